"""The cluster stack (`uat-cluster`): the namespaces Berth's workloads land in.

Created before anything is installed into them, with Pod Security labels, so that what must
exist in a namespace before its release (the S3 proxy's htpasswd Secret, a TLS Secret) can be
put there between this step and the workloads step.
"""

from __future__ import annotations

from constructs import Construct

from berth_constructs.workload_namespace import WorkloadNamespace, WorkloadNamespaceProps
from berth_core.config import Environment
from stacks.base import BerthStack


class ClusterStack(BerthStack):
    def __init__(self, scope: Construct, environment: Environment) -> None:
        super().__init__(scope, environment, environment.stacks.cluster)
        self.cluster_access(kubernetes=True, helm=False)
        refresher = environment.ecr_refresher
        for namespace in environment.workload_namespaces:
            labels: dict[str, str] = {}
            if refresher is not None and namespace == refresher.namespace:
                # The refresher's own image is pulled with its pull secret: its namespace must be
                # one of its targets, so it carries the selector's labels too.
                labels = refresher.pull_secret_namespaces.selector_labels
            created = WorkloadNamespace(
                self,
                f"namespace-{namespace}",
                WorkloadNamespaceProps(name=namespace, extra_labels=labels),
            )
            self.output(
                f"namespace_{namespace.replace('-', '_')}",
                created.name,
                "Namespace (Pod Security: restricted) that Berth's workloads are installed into",
            )
