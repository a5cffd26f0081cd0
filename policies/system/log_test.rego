# METADATA
# title: Tests of the decision-log masking
package system.log_test

import data.system.log

# The decision-log event OPA gives the mask rule: the decision's input is under "input".
_event := {"input": {
	"attributes": {"request": {"http": {
		"path": "/iota-south/iot/d?k=secret-api-key&i=dev1",
		"headers": {
			":path": "/iota-south/iot/d?k=secret-api-key&i=dev1",
			"authorization": "Bearer a.b.c",
			"cookie": "session=x",
		},
	}}},
	"parsed_query": {"k": ["secret-api-key"]},
}}

test_mask_removes_credentials_when_present if {
	masks := log.mask with input as _event
	"/input/attributes/request/http/headers/authorization" in masks
	"/input/attributes/request/http/headers/cookie" in masks
	"/input/parsed_query" in masks
}

test_mask_keeps_paths_without_query_when_api_key_in_query if {
	masks := log.mask with input as _event
	{"op": "upsert", "path": "/input/attributes/request/http/path", "value": "/iota-south/iot/d"} in masks
	{"op": "upsert", "path": "/input/attributes/request/http/headers/:path", "value": "/iota-south/iot/d"} in masks
}
