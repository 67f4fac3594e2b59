{{/*
Expand the name of the chart.
*/}}
{{- define "fastapi-app.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "fastapi-app.fullname" -}}
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
Create chart name and version as used by the chart label.
*/}}
{{- define "fastapi-app.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels (metadata of every object; not used in the pod template, see podLabels).
*/}}
{{- define "fastapi-app.labels" -}}
helm.sh/chart: {{ include "fastapi-app.chart" . }}
{{ include "fastapi-app.selectorLabels" . }}
app.kubernetes.io/version: {{ include "fastapi-app.version" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels
*/}}
{{- define "fastapi-app.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fastapi-app.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Create the name of the service account to use
*/}}
{{- define "fastapi-app.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "fastapi-app.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The released version: the image tag, or the chart's appVersion.
*/}}
{{- define "fastapi-app.version" -}}
{{- .Values.image.tag | default .Chart.AppVersion | toString }}
{{- end }}

{{/*
Label-safe version: lower case, [a-z0-9-] only, at most 20 characters (used in the
migration Job name so that each version gets a fresh Job).
*/}}
{{- define "fastapi-app.versionSlug" -}}
{{- regexReplaceAll "[^a-z0-9]+" (include "fastapi-app.version" . | lower) "-" | trunc 20 | trimAll "-" }}
{{- end }}

{{- define "fastapi-app.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "fastapi-app.version" .) }}
{{- end }}
{{- end }}

{{/*
Pod template labels: selector labels + version + podLabels. Deliberately without
helm.sh/chart or anything per-release, so re-deploying the same version does not
roll the pods.
*/}}
{{- define "fastapi-app.podLabels" -}}
{{ include "fastapi-app.selectorLabels" . }}
app.kubernetes.io/version: {{ include "fastapi-app.version" . | quote }}
{{- with .Values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Effective lowest number of pods: HPA minReplicas when autoscaling, else replicaCount.
*/}}
{{- define "fastapi-app.minReplicas" -}}
{{- if .Values.autoscaling.enabled }}
{{- .Values.autoscaling.minReplicas | int }}
{{- else }}
{{- .Values.replicaCount | int }}
{{- end }}
{{- end }}

{{/*
preStop seconds that count in the shutdown timeline (0 when there is no hook).
*/}}
{{- define "fastapi-app.preStopSeconds" -}}
{{- if eq .Values.lifecycle.preStop.type "none" }}0{{ else }}{{ .Values.lifecycle.preStop.seconds | int }}{{ end }}
{{- end }}

{{/*
DATABASE_URL from database.existingSecret, else from the chart-made Secret named
by "secretName" (the app's <fullname>-database, or the migration Job's own).
usage: include "fastapi-app.databaseEnv" (dict "root" . "secretName" "x")
*/}}
{{- define "fastapi-app.databaseEnv" -}}
{{- $v := .root.Values.database }}
{{- if $v.existingSecret }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.existingSecret }}
      key: {{ $v.existingSecretKey }}
{{- else if $v.url }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: DATABASE_URL
{{- end }}
{{- end }}

{{- define "fastapi-app.hasDatabase" -}}
{{- if or .Values.database.existingSecret .Values.database.url }}true{{ end }}
{{- end }}

{{/*
Seconds from termination start to SIGKILL: the value when set, else the whole
shutdown timeline (preStop + drain + graceful shutdown + margin).
*/}}
{{- define "fastapi-app.terminationGracePeriodSeconds" -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- $l := .Values.lifecycle }}
{{- add (include "fastapi-app.preStopSeconds" . | int) ($l.drainSeconds | int) ($l.gracefulShutdownSeconds | int) ($l.marginSeconds | int) }}
{{- else }}
{{- .Values.terminationGracePeriodSeconds | int }}
{{- end }}
{{- end }}

{{/*
Environment shared by the app container and the migration Job.
*/}}
{{- define "fastapi-app.env" -}}
- name: APP_GREETING
  value: {{ .Values.app.greeting | quote }}
- name: APP_REVISION
  value: {{ .Values.app.revision | quote }}
- name: APP_WARMUP_SECONDS
  value: {{ .Values.app.warmupSeconds | int | quote }}
- name: APP_DRAIN_SECONDS
  value: {{ .Values.lifecycle.drainSeconds | int | quote }}
{{- /* The server's side of the shutdown timeline, for the image's own command: uvicorn
reads UVICORN_* options from the environment, fastapi_zdk.gunicorn_conf reads the same. */}}
- name: UVICORN_HOST
  value: "0.0.0.0"
- name: UVICORN_PORT
  value: {{ .Values.containerPort | int | quote }}
- name: UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN
  value: {{ .Values.lifecycle.gracefulShutdownSeconds | int | quote }}
- name: UVICORN_TIMEOUT_KEEP_ALIVE
  value: {{ .Values.lifecycle.keepAliveSeconds | int | quote }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Pod and container security settings shared by the app, the migration Job and the test pod.
*/}}
{{- define "fastapi-app.podSecurity" -}}
automountServiceAccountToken: {{ .Values.serviceAccount.automount }}
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Checksums of the data in the chart-made env ConfigMap and Secrets, so that a change
rolls the pods (the data only: a chart or version bump must not change them).
*/}}
{{- define "fastapi-app.checksums" -}}
{{- if .Values.configEnv }}
checksum/config: {{ .Values.configEnv | toJson | sha256sum }}
{{- end }}
{{- if or .Values.secretEnv .Values.database.url }}
checksum/secret: {{ dict "env" .Values.secretEnv "url" .Values.database.url | toJson | sha256sum }}
{{- end }}
{{- end }}
