"""Stacks compose constructs per environment; they hold no raw resources.

An environment with a cluster has three stacks, deployed in this order (each names what it
waits for; `berth preflight ENV --step STEP` checks it first):

1. `ENV` (AccountStack): the AWS resources. Waits for the bootstrap: state bucket, deploy role,
   the cluster's IAM OIDC provider (unless the file lets the stack create it).
2. `ENV-cluster` (ClusterStack): the namespaces, with Pod Security labels.
3. `ENV-workloads` (WorkloadsStack): the Helm releases. Waits for the images in ECR, the secret's
   value stored and deployed, and the Secrets named in the file.

An environment with a cluster outside EKS (`external_cluster`) has the same three: its account
stack also creates the ECR credential refresher's AWS identities (and the build repositories),
its cluster stack the refresher's namespace, its workloads stack the refresher releases.
An environment without a cluster (the emulator's `local`) has the account stack only.
"""

from __future__ import annotations

from itertools import pairwise

from cdktf import TerraformStack
from constructs import Construct

from berth_core.config import Environment
from stacks.account_stack import AccountStack
from stacks.cluster_stack import ClusterStack
from stacks.workloads_stack import WorkloadsStack


def add_environment(scope: Construct, environment: Environment) -> list[TerraformStack]:
    """The stacks of `environment`, in deploy order, each depending on the one before."""
    stacks: list[TerraformStack] = [AccountStack(scope, environment)]
    if environment.has_cluster:
        stacks.append(ClusterStack(scope, environment))
        stacks.append(WorkloadsStack(scope, environment))
    for earlier, later in pairwise(stacks):
        later.add_dependency(earlier)
    return stacks
