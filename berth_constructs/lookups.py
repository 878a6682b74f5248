"""Lookups: things a stack uses but does not create, found at plan time.

A stack that names an IAM role, a repository or an image it did not create would otherwise fail
late (ECR and S3 reject a policy whose principal does not exist; a release waits for a pod that
can never pull its image). Looking each one up with a data source makes `terraform plan` stop
first, with the provider's error naming the missing thing.
"""

from __future__ import annotations

from collections.abc import Sequence

from cdktf_cdktf_provider_aws.data_aws_ecr_image import DataAwsEcrImage
from cdktf_cdktf_provider_aws.data_aws_ecr_repository import DataAwsEcrRepository
from cdktf_cdktf_provider_aws.data_aws_iam_role import DataAwsIamRole
from constructs import Construct

from berth_constructs.container_image import ContainerImage
from berth_core.validation import ROLE_ARN


def existing_role_arn(scope: Construct, id: str, role_name: str) -> str:
    """The ARN of the IAM role `role_name`, looked up: planning stops when it does not exist."""
    return DataAwsIamRole(scope, id, name=role_name).arn


def existing_role_name(scope: Construct, id: str, role_name: str) -> str:
    """The name of the IAM role `role_name`, looked up: planning stops when it does not exist."""
    return DataAwsIamRole(scope, id, name=role_name).name


def external_principals(
    scope: Construct, id_prefix: str, principals: Sequence[str], account_id: str
) -> list[str]:
    """`principals` with every role of `account_id` replaced by its looked-up ARN.

    Other accounts' principals and account roots stay literal: an account cannot look up
    another's roles, and a root principal always exists.
    """
    resolved = []
    for principal in principals:
        # A role of `account_id` by name; role paths (`role/path/name`) keep the last segment.
        match = ROLE_ARN.match(principal)
        if match is None or match.group("account") != account_id:
            resolved.append(principal)
            continue
        resolved.append(
            existing_role_arn(scope, f"{id_prefix}-{match.group('name')}", match.group("name"))
        )
    return resolved


def pushed_image(scope: Construct, id: str, repository_name: str, tag: str) -> ContainerImage:
    """The image CI pushed as `repository_name:tag`, pinned by its digest.

    Planning stops when the repository or the tag does not exist, so a release is never
    installed with an image no node can pull. The digest pins exactly the image ECR scanned.
    """
    repository = DataAwsEcrRepository(scope, f"{id}-repository", name=repository_name)
    image = DataAwsEcrImage(scope, id, repository_name=repository_name, image_tag=tag)
    return ContainerImage(repository=repository.repository_url, digest=image.image_digest)
