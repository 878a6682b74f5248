{{/*
Chart name, truncated to the 63 characters Kubernetes names allow.
*/}}
{{- define "otel-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: release name + chart name, unless the release name already contains the chart name.
*/}}
{{- define "otel-agent.fullname" -}}
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
{{- define "otel-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Recommended labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/),
on every object and every pod. The version is the image tag the pods run (the chart's appVersion
when no tag is given), cut to what a label value allows.
*/}}
{{- define "otel-agent.labels" -}}
helm.sh/chart: {{ include "otel-agent.chart" . }}
{{ include "otel-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ regexReplaceAll "^[^A-Za-z0-9]+|[^A-Za-z0-9]+$" (.Values.image.tag | default .Chart.AppVersion | trunc 63) "" | quote }}
app.kubernetes.io/component: {{ .Values.mode }}
app.kubernetes.io/part-of: berth
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: stable across upgrades, so no chart version here.
*/}}
{{- define "otel-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "otel-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
ServiceAccount name: the given name; else the full name when the chart creates the account, or
the namespace's `default` account when it does not.
*/}}
{{- define "otel-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "otel-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
ServiceAccount annotations: `serviceAccount.annotations`, plus the IRSA annotation
`eks.amazonaws.com/role-arn` from `serviceAccount.roleArn`.
*/}}
{{- define "otel-agent.serviceAccountAnnotations" -}}
{{- $annotations := deepCopy .Values.serviceAccount.annotations }}
{{- with .Values.serviceAccount.roleArn }}
{{- $_ := set $annotations "eks.amazonaws.com/role-arn" . }}
{{- end }}
{{- with $annotations }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/*
ServiceAccount values that contradict each other; `otel-agent.validate` includes it.
*/}}
{{- define "otel-agent.validateServiceAccount" -}}
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
{{- define "otel-agent.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (.image.tag | default .default) }}
{{- end }}
{{- end }}

{{/*
Where the sidecar writes the private key and the collector reads it (in-memory emptyDir).
*/}}
{{- define "otel-agent.secretDir" -}}
/var/run/secrets/coralogix
{{- end }}
{{- define "otel-agent.secretFile" -}}
{{ include "otel-agent.secretDir" . }}/private-key
{{- end }}

{{/*
Invalid combinations that the schema cannot express, and required values left empty.
The required values fail only an install or upgrade, with a message naming the value: `helm lint`
renders with neither IsInstall nor IsUpgrade set, so the chart's own defaults (which leave them
empty on purpose) stay lint-clean for publishing.
*/}}
{{- define "otel-agent.validate" -}}
{{- if or .Release.IsInstall .Release.IsUpgrade }}
{{- if and .Values.serviceAccount.create (not .Values.serviceAccount.roleArn) (not (hasKey .Values.serviceAccount.annotations "eks.amazonaws.com/role-arn")) }}
{{- fail "serviceAccount.roleArn is required when serviceAccount.create is true (IRSA: the fetch sidecar has no other credentials)" }}
{{- end }}
{{- range $key := list "region" "application" "environment" "profile" }}
{{- if not (get $.Values.appconfig $key) }}
{{- fail (printf "appconfig.%s is required (where the private key is delivered)" $key) }}
{{- end }}
{{- end }}
{{- if not .Values.coralogix.domain }}
{{- fail "coralogix.domain is required (e.g. eu2.coralogix.com)" }}
{{- end }}
{{- end }}
{{- include "otel-agent.validateServiceAccount" . }}
{{- end }}
