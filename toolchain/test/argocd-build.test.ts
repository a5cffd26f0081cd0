import { GITOPS_ENGINE, argoCdGoMod } from '../tools.js';

/** The parts of github.com/argoproj/argo-cd/v3 v3.5.4's go.mod the rendering reads. */
const ARGO_CD_GO_MOD = `module github.com/argoproj/argo-cd/v3

go 1.26.3

require (
	github.com/argoproj/argo-cd/gitops-engine v0.7.1-0.20250908182407-97ad5b59a627
	k8s.io/api v0.36.1
)

replace (
	github.com/golang/protobuf => github.com/golang/protobuf v1.5.4

	// Avoid CVE-2022-3064
	gopkg.in/yaml.v2 => gopkg.in/yaml.v2 v2.4.0

	k8s.io/api => k8s.io/api v0.36.1
	k8s.io/client-go => k8s.io/client-go v0.36.1
)

replace github.com/argoproj/argo-cd/gitops-engine => ./gitops-engine
`;

describe('argoCdGoMod', () => {
  const goMod = argoCdGoMod('v3.5.4', ARGO_CD_GO_MOD);

  it('requires argo-cd at the release and builds its multi-call cmd as a tool', () => {
    expect(goMod).toMatch(/^module kitt4sme\.local\/argocd$/m);
    expect(goMod).toMatch(/^go 1\.26\.3$/m);
    expect(goMod).toMatch(/^require github\.com\/argoproj\/argo-cd\/v3 v3\.5\.4$/m);
    expect(goMod).toMatch(/^tool github\.com\/argoproj\/argo-cd\/v3\/cmd$/m);
  });

  it("copies argo-cd's published replacements and points gitops-engine at the pinned pseudo-version", () => {
    const replaces = goMod.split('\n').filter((l) => l.includes('=>'));
    expect(replaces).toEqual([
      '\tgithub.com/golang/protobuf => github.com/golang/protobuf v1.5.4',
      '\tgopkg.in/yaml.v2 => gopkg.in/yaml.v2 v2.4.0',
      '\tk8s.io/api => k8s.io/api v0.36.1',
      '\tk8s.io/client-go => k8s.io/client-go v0.36.1',
      `\tgithub.com/argoproj/argo-cd/gitops-engine => github.com/argoproj/argo-cd/gitops-engine ${GITOPS_ENGINE.version}`,
    ]);
    expect(goMod).not.toContain('./gitops-engine');
    expect(GITOPS_ENGINE.version).toMatch(/^v0\.0\.0-\d{14}-[0-9a-f]{12}$/);
  });

  it('fails on a local replacement it cannot follow', () => {
    expect(() =>
      argoCdGoMod('v3.5.4', `${ARGO_CD_GO_MOD}\nreplace example.com/x => ../x\n`),
    ).toThrow(/example\.com\/x => \.\.\/x/);
  });

  it('fails when gitops-engine is no longer replaced locally (check the pin again)', () => {
    expect(() => argoCdGoMod('v3.5.4', ARGO_CD_GO_MOD.replace(/^replace github.*\n/m, ''))).toThrow(
      /gitops-engine/,
    );
  });

  it('fails when the version is not a release', () => {
    expect(() => argoCdGoMod('3.5.4', ARGO_CD_GO_MOD)).toThrow(/v<major>\.<minor>\.<patch>/);
  });
});
