"""Stack factories: a fresh test app with one stack and its providers, and the stack's JSON.

The provider bindings are imported when a stack is built, never when a test module is imported
(tests/conftest.py loads them lazily). The kubernetes and helm providers point at an address
that does not resolve: synthesis never connects.
"""

from __future__ import annotations

import json

from cdktf import TerraformStack, Testing

from tests.support.constants import REGION
from tests.support.tfjson import TfJson

# Where the kubernetes and helm providers would find the API server: nowhere (RFC 6761).
KUBERNETES_HOST = "https://kubernetes.invalid"


def new_stack(
    name: str = "test",
    *,
    region: str | None = REGION,
    kubernetes: bool = False,
    helm: bool = False,
) -> TerraformStack:
    """A stack in a fresh test app: the aws provider in `region` (none when None), and the
    kubernetes and helm providers when asked."""
    stack = TerraformStack(Testing.app(), name)
    if region is not None:
        from cdktf_cdktf_provider_aws.provider import AwsProvider

        AwsProvider(stack, "aws", region=region)
    if kubernetes:
        from cdktf_cdktf_provider_kubernetes.provider import KubernetesProvider

        KubernetesProvider(stack, "kubernetes", host=KUBERNETES_HOST)
    if helm:
        from cdktf_cdktf_provider_helm.provider import HelmProvider, HelmProviderKubernetes

        HelmProvider(stack, "helm", kubernetes=HelmProviderKubernetes(host=KUBERNETES_HOST))
    return stack


def stack_json(stack: TerraformStack) -> TfJson:
    """The stack's JSON as `Testing.synth` gives it: no `//` metadata, keys sorted."""
    return dict(json.loads(Testing.synth(stack)))
