# METADATA
# title: Tenancy decision for the ingress gateway (deny-all placeholder)
# description: |
#   What it guarantees: nothing is allowed. This placeholder stands until the tenancy policy
#   lands; the gateway exempts only the route table's public paths from asking OPA, so with
#   this policy every protected request is denied with 403 and a reason.
#   Input: the Envoy ext_authz CheckRequest as the OPA-Envoy plugin presents it
#   (input.attributes.request.http with method, path and lower-cased headers).
#   Try it: opa eval -d policies -i policies/examples/input.json 'data.kitt4sme.authz.decision'
package kitt4sme.authz

default allow := false

# METADATA
# description: The structured decision the Envoy ext_authz plugin reads.
# entrypoint: true
decision := {
	"allowed": allow,
	"http_status": 403,
	"headers": {"x-kitt4sme-deny-reason": "deny-all placeholder policy"},
}
