{{/* Chart name, truncated to the DNS label limit. */}}
{{- define "s3proxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart unless the release name already contains the chart name. */}}
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

{{- define "s3proxy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Recommended labels on every object. */}}
{{- define "s3proxy.labels" -}}
helm.sh/chart: {{ include "s3proxy.chart" . }}
{{ include "s3proxy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: proxy
{{- end }}

{{/* Selector labels: stable across upgrades (no chart version). */}}
{{- define "s3proxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "s3proxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "s3proxy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "s3proxy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference: the digest wins over the tag; the tag defaults to appVersion. */}}
{{- define "s3proxy.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
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
