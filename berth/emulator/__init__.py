"""Berth's AWS emulator: moto server with the two things the `local`, `uat` and `prod` stacks
need that moto gets wrong or lacks. Run it as `python -m berth.emulator -H HOST -p PORT`
(`berth.local.MotoServer` does); it takes the options of `python -m moto.server -H -p`.

What it adds, in front of moto's own dispatcher (`app.EmulatorApp`):

- **AppConfig** (`appconfig`): ListApplications; environments (Create/Get/Update/Delete/List),
  deployment strategies (Create/Get/Update/Delete/List, with AWS's predefined ones),
  deployments (Start/Get/List/Stop) and tags on those three; paths, status codes, input
  constraints and error codes come from botocore's service model (`rest`). Applications,
  configuration profiles and hosted versions stay moto's and are read from its backend, so an
  environment needs an existing application and a deployment an existing profile, secret
  version (`secretsmanager://`) or hosted version (by number). Resources live per account and region, the
  account being the one moto derives (credentials from sts:AssumeRole act in the role's
  account). Deployments progress by the clock, computed from timestamps (`rollout`): a 0-minute,
  0-bake strategy is COMPLETE at once, others report DEPLOYING then BAKING until their times
  pass; StopDeployment rolls back or (AllowRevert) reverts.
- **Bucket policies** (`bucket_policy`): statements that carry a Condition neither allow nor
  deny (moto would treat every condition as met, so a conditional Deny denied everything);
  statements without one are evaluated by moto as before.

Limits: no AppConfigData (StartConfigurationSession, GetLatestConfiguration), extensions,
experiments, account settings or deletion protection; no CloudWatch alarm monitoring (Monitors
are stored, never watched: nothing rolls back by itself); S3 and SSM configuration sources are
not checked at deployment; no service quotas; state lives in memory and `POST /moto-api/reset`
clears it with moto's. Tags are found by the resource's full ARN, as on AWS: the aws provider
builds those ARNs from the account it asks STS for, so a provider with
`skip_requesting_account_id` cannot tag environments, strategies or deployments here. The moto
internals it relies on are listed and checked at start (`moto_internals`).
"""
