# METADATA
# title: Decision-log masking
# description: |
#   Decision logs go to the console and from there to log storage: credentials in the input
#   must never reach them. OPA evaluates data.system.log.mask before writing each entry.
package system.log

mask contains "/input/attributes/request/http/headers/authorization"

mask contains "/input/attributes/request/http/headers/cookie"
