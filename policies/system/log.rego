# METADATA
# title: Decision-log masking
# description: |
#   Decision logs go to the console and from there to log storage: credentials in the input
#   must never reach them. OPA evaluates data.system.log.mask before writing each entry, with
#   the whole decision-log event as its input: the decision's input is input.input.
package system.log

mask contains "/input/attributes/request/http/headers/authorization"

mask contains "/input/attributes/request/http/headers/cookie"

# Device API keys travel in the query string (/iota-south/iot/d?k=...): keep paths, drop queries.
mask contains {"op": "upsert", "path": "/input/attributes/request/http/path", "value": path} if {
	path := split(input.input.attributes.request.http.path, "?")[0]
}

mask contains {"op": "upsert", "path": "/input/attributes/request/http/headers/:path", "value": path} if {
	path := split(input.input.attributes.request.http.headers[":path"], "?")[0]
}

mask contains "/input/parsed_query"
