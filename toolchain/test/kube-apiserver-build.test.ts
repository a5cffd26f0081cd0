import { KUBE_NODE_COMMANDS, kubeApiserverGoMod } from '../tools.js';

/** The parts of k8s.io/kubernetes v1.36.3's go.mod the rendering reads. */
const KUBERNETES_GO_MOD = `// This is a generated file. Do not edit directly.

module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
	github.com/blang/semver/v4 v4.0.0
	k8s.io/api v0.0.0
	k8s.io/client-go v0.0.0
	k8s.io/klog/v2 v2.140.0
	k8s.io/sample-apiserver v0.0.0
)

require (
	sigs.k8s.io/kustomize/kyaml v0.21.1 // indirect
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	k8s.io/sample-apiserver => ./staging/src/k8s.io/sample-apiserver
	k8s.io/sample-cli-plugin => ./staging/src/k8s.io/sample-cli-plugin
	k8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
)
`;

describe('kubeApiserverGoMod', () => {
  const goMod = kubeApiserverGoMod('v1.36.3', KUBERNETES_GO_MOD);

  it('requires k8s.io/kubernetes at the release and builds kube-apiserver as a tool', () => {
    expect(goMod).toMatch(/^module kitt4sme\.local\/kube-apiserver$/m);
    expect(goMod).toMatch(/^go 1\.26\.0$/m);
    expect(goMod).toMatch(/^require k8s\.io\/kubernetes v1\.36\.3$/m);
    expect(goMod).toMatch(/^tool k8s\.io\/kubernetes\/cmd\/kube-apiserver$/m);
  });

  it('builds the node components from the same module, each a tool, in a module of their own', () => {
    const node = kubeApiserverGoMod(
      'v1.36.3',
      KUBERNETES_GO_MOD,
      KUBE_NODE_COMMANDS,
      'kitt4sme.local/kube-node',
    );
    expect(node).toMatch(/^module kitt4sme\.local\/kube-node$/m);
    expect(node.split('\n').filter((l) => l.startsWith('tool '))).toEqual([
      'tool k8s.io/kubernetes/cmd/kubelet',
      'tool k8s.io/kubernetes/cmd/kube-proxy',
      'tool k8s.io/kubernetes/cmd/kube-controller-manager',
      'tool k8s.io/kubernetes/cmd/kube-scheduler',
    ]);
    expect(node).not.toContain('cmd/kube-apiserver');
    // The same replacements as kube-apiserver's: one k8s.io/kubernetes, one set of staging modules.
    const replaces = (m: string) => m.split('\n').filter((l) => l.includes('=>'));
    expect(replaces(node)).toEqual(replaces(goMod));
  });

  it('replaces each required staging module with its published v0.<minor>.<patch>', () => {
    const replaces = goMod.split('\n').filter((l) => l.includes('=>'));
    expect(replaces).toEqual([
      '\tk8s.io/api => k8s.io/api v0.36.3',
      '\tk8s.io/client-go => k8s.io/client-go v0.36.3',
      '\tk8s.io/sample-apiserver => k8s.io/sample-apiserver v0.36.3',
    ]);
  });

  it('skips staging modules k8s.io/kubernetes does not require', () => {
    expect(goMod).not.toContain('k8s.io/sample-cli-plugin');
    expect(goMod).not.toContain('k8s.io/sample-controller');
  });

  it('fails when the version is not a Kubernetes release', () => {
    expect(() => kubeApiserverGoMod('1.36.3', KUBERNETES_GO_MOD)).toThrow(TypeError);
    expect(() => kubeApiserverGoMod('v1.36', KUBERNETES_GO_MOD)).toThrow(/v1\.<minor>\.<patch>/);
  });

  it('fails when the go.mod replaces nothing with ./staging', () => {
    expect(() => kubeApiserverGoMod('v1.36.3', 'module k8s.io/kubernetes\n\ngo 1.26.0\n')).toThrow(
      /staging/,
    );
  });
});
