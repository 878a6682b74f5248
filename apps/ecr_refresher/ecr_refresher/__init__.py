"""ECR pull-secret refresher: keeps ECR docker logins fresh in Kubernetes namespaces."""

__version__ = "0.1.0"
