{{/*
Chart name, truncated to the 63 characters Kubernetes names allow.
*/}}
{{- define "s3proxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: release name + chart name, unless the release name already contains the chart name.
*/}}
{{- define "s3proxy.fullname" -}}
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
{{- define "s3proxy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Recommended labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/),
on every object and every pod. The version is the image tag the pods run (the chart's appVersion
when no tag is given), cut to what a label value allows.
*/}}
{{- define "s3proxy.labels" -}}
helm.sh/chart: {{ include "s3proxy.chart" . }}
{{ include "s3proxy.selectorLabels" . }}
app.kubernetes.io/version: {{ regexReplaceAll "^[^A-Za-z0-9]+|[^A-Za-z0-9]+$" (.Values.image.tag | default .Chart.AppVersion | trunc 63) "" | quote }}
app.kubernetes.io/component: proxy
app.kubernetes.io/part-of: berth
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: stable across upgrades, so no chart version here.
*/}}
{{- define "s3proxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "s3proxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
ServiceAccount name: the given name; else the full name when the chart creates the account, or
the namespace's `default` account when it does not.
*/}}
{{- define "s3proxy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "s3proxy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
ServiceAccount annotations: `serviceAccount.annotations`, plus the IRSA annotation
`eks.amazonaws.com/role-arn` from `serviceAccount.roleArn`.
*/}}
{{- define "s3proxy.serviceAccountAnnotations" -}}
{{- $annotations := deepCopy .Values.serviceAccount.annotations }}
{{- with .Values.serviceAccount.roleArn }}
{{- $_ := set $annotations "eks.amazonaws.com/role-arn" . }}
{{- end }}
{{- with $annotations }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/*
ServiceAccount values that contradict each other; `s3proxy.validate` includes it.
*/}}
{{- define "s3proxy.validateServiceAccount" -}}
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
{{- define "s3proxy.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (.image.tag | default .default) }}
{{- end }}
{{- end }}

{{/* Container ports: content (objects only) and management (probes, metrics). */}}
{{- define "s3proxy.contentPort" -}}
8080
{{- end }}
{{- define "s3proxy.managementPort" -}}
9090
{{- end }}

{{/* The Secret that holds the htpasswd file. */}}
{{- define "s3proxy.htpasswdSecretName" -}}
{{- default (printf "%s-htpasswd" (include "s3proxy.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{/* The Secret with the Ingress certificate. */}}
{{- define "s3proxy.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "s3proxy.fullname" .)) .Values.ingress.tls.secretName }}
{{- end }}

{{/* Invalid combinations fail the render with a message naming the value. */}}
{{- define "s3proxy.validate" -}}
{{- include "s3proxy.validateServiceAccount" . }}
{{- if not .Values.s3.bucket }}
{{- fail "s3.bucket is required: the name of the bucket to serve" }}
{{- end }}
{{- if .Values.auth.enabled }}
{{- if and (not .Values.auth.htpasswd) (not .Values.auth.existingSecret) }}
{{- fail "auth.enabled needs auth.htpasswd or auth.existingSecret (or set auth.enabled=false explicitly)" }}
{{- end }}
{{- if and .Values.auth.htpasswd .Values.auth.existingSecret }}
{{- fail "auth.htpasswd and auth.existingSecret are exclusive: set one" }}
{{- end }}
{{- if not (.Values.podSecurityContext | default dict).fsGroup }}
{{- fail "auth.enabled needs podSecurityContext.fsGroup: the htpasswd file is root-owned, mode 0440, and the non-root user reads it through the fsGroup" }}
{{- end }}
{{- end }}
{{- if .Values.ingress.enabled }}
{{- if not .Values.ingress.host }}
{{- fail "ingress.host is required when ingress.enabled" }}
{{- end }}
{{- if and (not .Values.ingress.tls.secretName) (not .Values.ingress.tls.selfSigned) }}
{{- fail "ingress.tls.secretName (or ingress.tls.selfSigned for non-production) is required: the proxy sends basic-auth credentials" }}
{{- end }}
{{- end }}
{{- if and .Values.httpRoute.enabled (not .Values.httpRoute.parentRefs) }}
{{- fail "httpRoute.parentRefs is required when httpRoute.enabled" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- end }}
