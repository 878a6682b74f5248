{{/*
Chart name, truncated to the 63 characters Kubernetes names allow.
*/}}
{{- define "ecr-credential-refresher.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: release name + chart name, unless the release name already contains the chart name.
*/}}
{{- define "ecr-credential-refresher.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart label value: name-version.
*/}}
{{- define "ecr-credential-refresher.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Recommended labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/),
on every object and every pod. The version is the image tag the pods run (the chart's appVersion
when no tag is given), cut to what a label value allows.
*/}}
{{- define "ecr-credential-refresher.labels" -}}
helm.sh/chart: {{ include "ecr-credential-refresher.chart" . }}
{{ include "ecr-credential-refresher.selectorLabels" . }}
app.kubernetes.io/version: {{ regexReplaceAll "^[^A-Za-z0-9]+|[^A-Za-z0-9]+$" (.Values.image.tag | default .Chart.AppVersion | trunc 63) "" | quote }}
app.kubernetes.io/component: credential-refresher
app.kubernetes.io/part-of: berth
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: stable across upgrades, so no chart version here.
*/}}
{{- define "ecr-credential-refresher.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ecr-credential-refresher.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
ServiceAccount name: the given name; else the full name when the chart creates the account, or
the namespace's `default` account when it does not.
*/}}
{{- define "ecr-credential-refresher.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ecr-credential-refresher.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
ServiceAccount annotations: `serviceAccount.annotations`, plus the IRSA annotation
`eks.amazonaws.com/role-arn` from `serviceAccount.roleArn`.
*/}}
{{- define "ecr-credential-refresher.serviceAccountAnnotations" -}}
{{- $annotations := deepCopy .Values.serviceAccount.annotations }}
{{- with .Values.serviceAccount.roleArn }}
{{- $_ := set $annotations "eks.amazonaws.com/role-arn" . }}
{{- end }}
{{- with $annotations }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/*
ServiceAccount values that contradict each other; `ecr-credential-refresher.validate` includes it.
*/}}
{{- define "ecr-credential-refresher.validateServiceAccount" -}}
{{- if and .Values.serviceAccount.roleArn (hasKey .Values.serviceAccount.annotations "eks.amazonaws.com/role-arn") }}
{{- fail "set the IRSA role in serviceAccount.roleArn or in serviceAccount.annotations, not both" }}
{{- end }}
{{- if and (not .Values.serviceAccount.create) .Values.serviceAccount.roleArn }}
{{- fail "serviceAccount.roleArn has no effect when serviceAccount.create is false: annotate the existing ServiceAccount instead" }}
{{- end }}
{{- end }}

{{/*
An image reference: repository@digest when a digest is given (the tag is then ignored), else
repository:tag. Call with (dict "image" .Values.image "default" .Chart.AppVersion).
*/}}
{{- define "ecr-credential-refresher.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (.image.tag | default .default) }}
{{- end }}
{{- end }}

{{/*
The target mode: "list", "selector", "all", or "" when not exactly one is chosen.
*/}}
{{- define "ecr-credential-refresher.targetMode" -}}
{{- $modes := list }}
{{- if .Values.targets.namespaces }}{{ $modes = append $modes "list" }}{{ end }}
{{- if .Values.targets.selector }}{{ $modes = append $modes "selector" }}{{ end }}
{{- if .Values.targets.all }}{{ $modes = append $modes "all" }}{{ end }}
{{- if eq (len $modes) 1 }}{{ first $modes }}{{ end }}
{{- end }}

{{/*
Invalid combinations fail the install or upgrade with a message naming the values.
`helm lint` renders with neither IsInstall nor IsUpgrade set, so the chart's own defaults (which
leave the required values empty on purpose) stay lint-clean for publishing.
*/}}
{{- define "ecr-credential-refresher.validate" -}}
{{- include "ecr-credential-refresher.validateServiceAccount" . }}
{{- if and (not .Values.serviceAccount.create) (not .Values.serviceAccount.name) }}
{{- fail "serviceAccount.name is required when serviceAccount.create is false: the chart grants this account its Secret rights, and the fallback `default` would hand them to every pod of the namespace that runs as it (name `default` to mean it)" }}
{{- end }}
{{- if or .Release.IsInstall .Release.IsUpgrade }}
{{- if not .Values.aws.region }}
{{- fail "aws.region is required (ECR tokens are regional)" }}
{{- end }}
{{- if not (include "ecr-credential-refresher.targetMode" .) }}
{{- fail "set exactly one of targets.namespaces, targets.selector, targets.all" }}
{{- end }}
{{- end }}
{{- if and .Values.builder.enabled (eq .Values.builder.secretName .Values.pullSecret.name) }}
{{- fail "builder.secretName must differ from pullSecret.name" }}
{{- end }}
{{- if and .Values.builder.serviceAccount (not .Values.builder.enabled) }}
{{- fail "builder.serviceAccount needs builder.enabled: true" }}
{{- end }}
{{- if and .Values.aws.existingSecret (not (.Values.podSecurityContext | default dict).fsGroup) }}
{{- fail "aws.existingSecret needs podSecurityContext.fsGroup: the credentials file is root-owned, mode 0400, and the non-root user reads it through the fsGroup" }}
{{- end }}
{{- $identities := list }}
{{- if .Values.aws.existingSecret }}{{ $identities = append $identities "aws.existingSecret" }}{{ end }}
{{- if .Values.aws.webIdentity.roleArn }}{{ $identities = append $identities "aws.webIdentity.roleArn" }}{{ end }}
{{- if .Values.serviceAccount.roleArn }}{{ $identities = append $identities "serviceAccount.roleArn" }}{{ end }}
{{- if gt (len $identities) 1 }}
{{- fail (printf "give one AWS identity, not %s" (join " and " $identities)) }}
{{- end }}
{{- if .Values.builder.createServiceAccount }}
{{- if not .Values.builder.enabled }}
{{- fail "builder.createServiceAccount needs builder.enabled: true" }}
{{- end }}
{{- if not .Values.builder.serviceAccount }}
{{- fail "builder.createServiceAccount needs builder.serviceAccount (its name)" }}
{{- end }}
{{- if ne (include "ecr-credential-refresher.targetMode" .) "list" }}
{{- fail "builder.createServiceAccount needs targets.namespaces: the account is made in each listed namespace" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Whether the refresher patches the builder ServiceAccount (it does not when the chart makes it,
already referring to both secrets).
*/}}
{{- define "ecr-credential-refresher.patchesBuilderAccount" -}}
{{- if and .Values.builder.enabled .Values.builder.serviceAccount (not .Values.builder.createServiceAccount) }}true{{ end }}
{{- end }}

{{/*
The ConfigMap where the refresher reports which credentials its current token came from.
*/}}
{{- define "ecr-credential-refresher.statusConfigMap" -}}
{{- default (printf "%s-status" (include "ecr-credential-refresher.fullname" .) | trunc 63 | trimSuffix "-") .Values.status.configMapName }}
{{- end }}

{{/*
Where the chart's own web-identity token is projected (aws.webIdentity).
*/}}
{{- define "ecr-credential-refresher.webIdentityDir" -}}
/var/run/secrets/sts.amazonaws.com/serviceaccount
{{- end }}

{{/*
The Secret names and types the refresher may create or update (the admission policy's list).
*/}}
{{- define "ecr-credential-refresher.secretTypes" -}}
{{- $types := dict .Values.pullSecret.name "kubernetes.io/dockerconfigjson" }}
{{- if .Values.builder.enabled }}{{ $_ := set $types .Values.builder.secretName "kubernetes.io/basic-auth" }}{{ end }}
{{- toJson $types }}
{{- end }}
{{- define "ecr-credential-refresher.secretTypesText" -}}
{{- $parts := list }}
{{- range $name, $type := include "ecr-credential-refresher.secretTypes" . | fromJson }}
{{- $parts = append $parts (printf "%s (%s)" $name $type) }}
{{- end }}
{{- printf "the ECR credential refresher may write only its own Secrets: %s" (join ", " $parts) }}
{{- end }}

{{/*
Where the static-keys Secret's `credentials` key is mounted (AWS_SHARED_CREDENTIALS_FILE).
*/}}
{{- define "ecr-credential-refresher.awsCredentialsDir" -}}
/var/run/secrets/aws
{{- end }}
{{- define "ecr-credential-refresher.awsCredentialsFile" -}}
{{ include "ecr-credential-refresher.awsCredentialsDir" . }}/credentials
{{- end }}

{{/*
Secret names the refresher may read and update: the pull secret and the builder secret.
*/}}
{{- define "ecr-credential-refresher.secretNames" -}}
{{- $names := list .Values.pullSecret.name }}
{{- if .Values.builder.enabled }}{{ $names = append $names .Values.builder.secretName }}{{ end }}
{{- toYaml $names }}
{{- end }}

{{/*
Service account names the refresher may patch (imagePullSecrets / secrets).
*/}}
{{- define "ecr-credential-refresher.serviceAccountNames" -}}
{{- $names := .Values.patchServiceAccounts | default list }}
{{- if include "ecr-credential-refresher.patchesBuilderAccount" . }}
{{- $names = append $names .Values.builder.serviceAccount }}
{{- end }}
{{- toYaml ($names | uniq) }}
{{- end }}

{{/*
Rules for the target namespaces, shared by the per-namespace Roles and the ClusterRole.
*/}}
{{- define "ecr-credential-refresher.targetRules" -}}
# Read and update only the refresher's own secrets, by name. No delete: a failed refresh must
# never remove a working secret.
- apiGroups: [""]
  resources: ["secrets"]
  resourceNames:
    {{- include "ecr-credential-refresher.secretNames" . | nindent 4 }}
  verbs: ["get", "update", "patch"]
# `create` cannot be limited by resourceNames: the API server authorizes a create before the
# new object's name is known (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-resources).
# The admission policy (admissionPolicy.enabled, on by default) refuses any Secret of another
# name or type from this ServiceAccount, e.g. a service-account token Secret.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create"]
{{- $accounts := include "ecr-credential-refresher.serviceAccountNames" . | fromYamlArray }}
{{- if $accounts }}
# Add the secrets to these service accounts only.
- apiGroups: [""]
  resources: ["serviceaccounts"]
  resourceNames:
    {{- toYaml $accounts | nindent 4 }}
  verbs: ["get", "patch"]
{{- end }}
{{- end }}
