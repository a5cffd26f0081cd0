# METADATA
# title: Tests of the tenancy decision
# description: |
#   Run by the test command with data generated for the run (.cache/policy-test/data.json:
#   the corpus' config, fresh keys, the materialized corpus). Tokens here are signed in Rego
#   with those keys; nothing secret is committed.
package kitt4sme.authz_test

import data.kitt4sme.authz

_cfg := data.test.config

_now := time.now_ns() / 1000000000

_claims := {
	"iss": _cfg.issuer,
	"sub": "user-1",
	"aud": ["kitt4sme-fiware", "kitt4sme-provisioning"],
	"azp": "manufracture-scenarios",
	"typ": "Bearer",
	"tenants": ["manufracture"],
	"roles": ["manufracture:operator"],
	"iat": _now,
	"exp": _now + 3600,
}

_rsa_token(overrides) := io.jwt.encode_sign(
	{"alg": "RS256", "typ": "JWT", "kid": "realm-rsa-1"},
	object.union(_claims, overrides),
	data.test.private.rsa,
)

_ec_token(overrides) := io.jwt.encode_sign(
	{"alg": "ES256", "typ": "JWT", "kid": "realm-ec-1"},
	object.union(_claims, overrides),
	data.test.private.ec,
)

_input(method, path, headers) := {"attributes": {"request": {"http": {
	"method": method,
	"path": path,
	"headers": headers,
}}}}

_with_token(token, tenant) := {"authorization": concat(" ", ["Bearer", token]), "fiware-service": tenant}

_decide(inp) := d if {
	d := authz.decision with input as inp
		with data.kitt4sme.config as _cfg
		with data.kitt4sme.keys as data.test.keys with data.kitt4sme.apikeys as data.test.apikeys
}

_reason(d) := d.headers["x-kitt4sme-deny-reason"]

# ---------------------------------------------------------------------------------------------
# The demo cluster's three cases
# ---------------------------------------------------------------------------------------------

test_decision_denied_when_token_expired if {
	token := _rsa_token({"exp": _now - 3600})
	d := _decide(_input("GET", "/orion/v2/entities", _with_token(token, "manufracture")))
	not d.allowed
	d.http_status == 401
	_reason(d) == "token expired or without exp"
}

test_decision_denied_when_tenant_not_in_token if {
	token := _rsa_token({})
	d := _decide(_input("GET", "/orion/v2/entities", _with_token(token, "smithereens")))
	not d.allowed
	d.http_status == 403
	_reason(d) == "token not valid for this tenant"
}

test_decision_allowed_when_token_valid_for_tenant if {
	token := _rsa_token({})
	d := _decide(_input("GET", "/orion/v2/entities", _with_token(token, "manufracture")))
	d.allowed
	d.headers["x-kitt4sme-tenant"] == "manufracture"
}

# ---------------------------------------------------------------------------------------------
# The corpus (policies/cases), every case as it expects
# ---------------------------------------------------------------------------------------------

test_decision_as_expected_for_every_corpus_case if {
	count(data.test.cases) >= 80
	failed := [c.name | some c in data.test.cases; not _as_expected(c)]
	failed == []
}

test_allow_agrees_with_deny_for_every_corpus_case if {
	disagree := [c.name | some c in data.test.cases; not _consistent(c.input)]
	disagree == []
}

_consistent(inp) if {
	authz.allow with input as inp with data.kitt4sme.config as _cfg with data.kitt4sme.keys as data.test.keys with data.kitt4sme.apikeys as data.test.apikeys with time.now_ns as data.test.now_ns
	count(authz.deny) == 0 with input as inp with data.kitt4sme.config as _cfg with data.kitt4sme.keys as data.test.keys with data.kitt4sme.apikeys as data.test.apikeys with time.now_ns as data.test.now_ns
}

_consistent(inp) if {
	not authz.allow with input as inp with data.kitt4sme.config as _cfg with data.kitt4sme.keys as data.test.keys with data.kitt4sme.apikeys as data.test.apikeys with time.now_ns as data.test.now_ns
	count(authz.deny) > 0 with input as inp with data.kitt4sme.config as _cfg with data.kitt4sme.keys as data.test.keys with data.kitt4sme.apikeys as data.test.apikeys with time.now_ns as data.test.now_ns
}

# The corpus' tokens were signed when the data was made (testing/bin/policy-test-data.ts), their
# exp, nbf and iat relative to that moment: its cases are decided at that moment, so a run that
# starts long after (a busy machine, the coverage run after the plain one) decides the same.
_decide_at_corpus_time(inp) := d if {
	d := _decide(inp) with time.now_ns as data.test.now_ns
}

_as_expected(c) if {
	d := _decide_at_corpus_time(c.input)
	d.allowed == c.expect.allowed
	_status_as_expected(d, c.expect)
	_reason_as_expected(d, c.expect)
}

_status_as_expected(_, e) if not "status" in object.keys(e)

_status_as_expected(d, e) if d.http_status == e.status

_reason_as_expected(_, e) if not "reason" in object.keys(e)

_reason_as_expected(d, e) if _reason(d) == e.reason

# ---------------------------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------------------------

test_allow_true_when_public_path_without_token if {
	authz.allow with input as _input("GET", "/orion/version", {})
		with data.kitt4sme.config as _cfg
		with data.kitt4sme.keys as data.test.keys with data.kitt4sme.apikeys as data.test.apikeys
}

test_decision_no_tenant_header_when_public_path if {
	d := _decide(_input("GET", "/quantumleap/version", {}))
	d == {"allowed": true}
}

test_normalized_path_merges_slashes_and_keeps_trailing_slash if {
	authz.normalized_path == "/orion/v2/entities/" with input as _input("GET", "//orion//v2/entities/?x=1", {})
	authz.normalized_path == "/" with input as _input("GET", "/", {})
}

test_decision_allowed_when_es256_token if {
	d := _decide(_input("POST", "/iota-north/iot/devices", _with_token(_ec_token({}), "manufracture")))
	d.allowed
}

test_decision_denied_with_problem_body_when_no_token if {
	d := _decide(_input("GET", "/orion/v2/entities", {"fiware-service": "manufracture"}))
	body := json.unmarshal(d.body)
	body == {
		"type": "https://kitt4sme.eu/problems/access-denied",
		"title": "Unauthorized",
		"status": 401,
		"detail": "no bearer token",
	}
	d.headers["www-authenticate"] == `Bearer realm="kitt4sme", error="invalid_token"`
}

test_reason_first_in_sort_order_when_several if {
	# No token and no tenant: "no bearer token" sorts before "no fiware-service header".
	d := _decide(_input("GET", "/orion/v2/entities", {}))
	_reason(d) == "no bearer token"
	count(authz.deny) == 2 with input as _input("GET", "/orion/v2/entities", {})
		with data.kitt4sme.config as _cfg
		with data.kitt4sme.keys as data.test.keys with data.kitt4sme.apikeys as data.test.apikeys
}

test_decision_denied_503_when_keys_cannot_be_fetched if {
	token := _rsa_token({})
	d := authz.decision with input as _input("GET", "/orion/v2/entities", _with_token(token, "manufracture"))
		with data.kitt4sme.config as object.union(_cfg, {"jwks_uri": "http://127.0.0.1:9/certs"})
	not d.allowed
	d.http_status == 503
	d.headers["retry-after"] == "10"
}

test_decision_allowed_when_service_path_within_limits if {
	token := _rsa_token({"tenants": ["limited"], "roles": ["limited:operator"]})
	headers := object.union(_with_token(token, "limited"), {"fiware-servicepath": "/lab/bench3"})
	_decide(_input("GET", "/orion/v2/entities", headers)).allowed
}

test_decision_denied_when_service_path_header_empty_for_limited_tenant if {
	token := _rsa_token({"tenants": ["limited"], "roles": ["limited:operator"]})
	headers := object.union(_with_token(token, "limited"), {"fiware-servicepath": ""})
	d := _decide(_input("GET", "/orion/v2/entities", headers))
	_reason(d) == "invalid fiware-servicepath header"
}

test_roles_collects_a_single_string_role if {
	authz.roles == {"viewer"} with input as _input("GET", "/orion", _with_token(_rsa_token({"roles": "manufracture:viewer"}), "manufracture"))
		with data.kitt4sme.config as _cfg
}

test_decision_denied_when_method_missing if {
	token := _rsa_token({})
	inp := {"attributes": {"request": {"http": {"path": "/orion/v2/entities", "headers": _with_token(token, "manufracture")}}}}
	d := _decide(inp)
	_reason(d) == "no role may use this method on /orion"
}

test_decision_denied_when_input_empty if {
	d := _decide({})
	not d.allowed
	d.http_status == 400
	_reason(d) == "bad path: path must start with /"
}

test_decision_denied_when_key_has_wrong_use if {
	keys := {"keys": [object.union(data.test.keys.keys[0], {"use": "enc"})]}
	d := authz.decision with input as _input("GET", "/orion/v2/entities", _with_token(_rsa_token({}), "manufracture"))
		with data.kitt4sme.config as _cfg
		with data.kitt4sme.keys as keys
	_reason(d) == "token key does not fit its algorithm"
}

test_decision_allowed_when_token_has_no_iat_and_no_typ if {
	token := io.jwt.encode_sign(
		{"alg": "RS256", "typ": "JWT", "kid": "realm-rsa-1"},
		object.remove(_claims, ["iat", "typ"]),
		data.test.private.rsa,
	)
	_decide(_input("GET", "/orion/v2/entities", _with_token(token, "manufracture"))).allowed
}

test_decision_allowed_when_tenant_limited_to_root if {
	token := _rsa_token({"tenants": ["limited"], "roles": ["limited:operator"]})
	headers := object.union(_with_token(token, "limited"), {"fiware-servicepath": "/any/where"})
	d := authz.decision with input as _input("GET", "/orion/v2/entities", headers)
		with data.kitt4sme.config as object.union(_cfg, {"service_paths": {"limited": ["/"]}})
		with data.kitt4sme.keys as data.test.keys with data.kitt4sme.apikeys as data.test.apikeys
	d.allowed
}

# ---------------------------------------------------------------------------------------------
# Agents: declared needs and the heartbeat, for agent tokens only
# ---------------------------------------------------------------------------------------------

_agent := "agent-0a1b2c3d4e5f"

_agent_token(overrides) := io.jwt.encode_sign(
	{"alg": "RS256", "typ": "JWT", "kid": "realm-rsa-1"},
	object.union(object.remove(_claims, ["roles"]), object.union({"azp": _agent}, overrides)),
	data.test.private.rsa,
)

_heartbeat_headers(token, service_path) := object.union(
	_with_token(token, "manufracture"),
	{"fiware-servicepath": service_path},
)

test_is_agent_token_only_for_the_agent_client_shape if {
	every azp in [_agent, "agent-000000000000"] {
		authz.is_agent_token with input as _input("GET", "/orion", _with_token(_agent_token({"azp": azp}), "manufracture"))
			with data.kitt4sme.config as _cfg
	}
	every azp in ["agent-0A1B2C3D4E5F", "agent-0a1b2c3d4e5", "agent-0a1b2c3d4e5f0", "manufracture-scenarios", "agent-"] {
		not authz.is_agent_token with input as _input("GET", "/orion", _with_token(_agent_token({"azp": azp}), "manufracture"))
			with data.kitt4sme.config as _cfg
	}
}

test_decision_allowed_when_agent_declared_the_need if {
	token := _agent_token({"needs": ["quantumleap:read"]})
	_decide(_input("GET", "/quantumleap/v2/entities/m1", _with_token(token, "manufracture"))).allowed
}

test_decision_denied_with_reason_when_agent_did_not_declare_the_need if {
	token := _agent_token({"needs": ["orion:read"]})
	d := _decide(_input("DELETE", "/orion/v2/entities/m1", _with_token(token, "manufracture")))
	d.http_status == 403
	_reason(d) == "agent agent-0a1b2c3d4e5f declared no need that may DELETE /orion/v2/entities/m1"
}

test_decision_follows_the_rights_of_the_data_not_the_rego if {
	# The same need, its rights narrowed in the data: the policy reads them from there.
	token := _agent_token({"needs": ["orion:read"]})
	narrowed := json.patch(_cfg, [{
		"op": "replace", "path": "/agents/needs/orion:read",
		"value": [{"route": "/orion", "methods": ["GET"], "paths": ["/v2/types*"]}],
	}])
	d := authz.decision with input as _input("GET", "/orion/v2/entities", _with_token(token, "manufracture"))
		with data.kitt4sme.config as narrowed
		with data.kitt4sme.keys as data.test.keys
	not d.allowed
}

test_agent_roles_grant_nothing if {
	token := _agent_token({"roles": ["platform-admin", "manufracture:tenant-admin"]})
	inp := _input("POST", "/orion/v2/entities", _with_token(token, "manufracture"))
	authz.roles == set() with input as inp with data.kitt4sme.config as _cfg
	not _decide(inp).allowed
}

test_needs_claim_grants_nothing_on_a_person_token if {
	token := _rsa_token({"roles": ["manufracture:viewer"], "needs": ["orion:write"]})
	d := _decide(_input("POST", "/orion/v2/entities", _with_token(token, "manufracture")))
	_reason(d) == "no role may POST on /orion"
}

test_decision_denied_when_agent_token_names_two_tenants if {
	token := _agent_token({"needs": ["orion:read"], "tenants": ["manufracture", "smithereens"]})
	d := _decide(_input("GET", "/orion/v2/entities", _with_token(token, "manufracture")))
	_reason(d) == "an agent token must name exactly one tenant"
}

test_decision_allowed_when_agent_writes_its_own_heartbeat if {
	token := _agent_token({})
	own := concat("", ["/orion/v2/entities/urn:ngsi-ld:AgentInstance:", _agent, "-edge-pc-1/attrs"])
	_decide(_input("PATCH", own, _heartbeat_headers(token, "/agents"))).allowed
	_decide(_input("POST", "/orion/v2/entities", _heartbeat_headers(token, "/agents"))).allowed
}

test_decision_denied_when_agent_writes_another_heartbeat if {
	token := _agent_token({})
	other := "/orion/v2/entities/urn:ngsi-ld:AgentInstance:agent-ffffffffffff/attrs"
	not _decide(_input("PATCH", other, _heartbeat_headers(token, "/agents"))).allowed
}

test_decision_denied_when_heartbeat_creation_upserts if {
	token := _agent_token({})
	d := _decide(_input("POST", "/orion/v2/entities?options=upsert", _heartbeat_headers(token, "/agents")))
	_reason(d) == "agent agent-0a1b2c3d4e5f declared no need that may POST /orion/v2/entities; a heartbeat goes with fiware-servicepath /agents and without options=upsert"
}

test_istio_match_exact_prefix_and_suffix if {
	authz._istio_match("/v2/entities", "/v2/entities")
	authz._istio_match("/v2/entities/x", "/v2/entities*")
	authz._istio_match("/v2/entities/x/attrs", "*/attrs")
	authz._istio_match("/anything", "*")
	not authz._istio_match("/v2/entities/x", "/v2/entities")
	not authz._istio_match("/v2/entitie", "/v2/entities*")
	not authz._istio_match("/v2/entities/x/attrs/t", "*/attrs")
}
