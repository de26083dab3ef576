{{/* The chart's name, or nameOverride. */}}
{{- define "chaosrun.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's resources: fullnameOverride, or the release name with the chart name added when missing. */}}
{{- define "chaosrun.fullname" -}}
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

{{- define "chaosrun.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chaosrun.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "chaosrun.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "chaosrun.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "chaosrun.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "chaosrun.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "chaosrun.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "chaosrun.leaseName" -}}
{{- default (include "chaosrun.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* Namespaces the scenario ServiceAccount is created in, as a JSON list (see values.yaml). */}}
{{- define "chaosrun.scenarioNamespaces" -}}
{{- $ns := .Values.scenarioServiceAccount.namespaces | default .Values.watchNamespaces | default (list .Release.Namespace) }}
{{- toJson $ns }}
{{- end }}

{{/* Cross-field rules the JSON schema cannot word clearly. */}}
{{- define "chaosrun.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicas > 1 needs leaderElection.enabled=true: without a leader every replica would act on the same runs" }}
{{- end }}
{{- end }}

{{/* The container securityContext both containers share: non-root, read-only, no privilege, no capabilities. */}}
{{- define "chaosrun.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsUser }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The scenario bindings the operator adds each run namespace's scenario ServiceAccount to, as a JSON
list of ClusterRoleBinding/NAME or RoleBinding/NS/NAME; empty unless the operator watches all namespaces
and the chart makes the scenario account (with listed watchNamespaces the chart makes it in each). */}}
{{- define "chaosrun.scenarioBindings" -}}
{{- $out := list }}
{{- $s := .Values.scenarioServiceAccount }}
{{- if and $s.create (not .Values.watchNamespaces) (not $s.namespaces) }}
{{- $name := printf "%s-scenario" (include "chaosrun.fullname" .) }}
{{- if $s.targetNamespaces }}
{{- range $s.targetNamespaces }}{{ $out = append $out (printf "RoleBinding/%s/%s" . $name) }}{{ end }}
{{- else }}
{{- $out = append $out (printf "ClusterRoleBinding/%s" $name) }}
{{- end }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/* Tolerations in kubectl's taint spelling for --step-tolerations. */}}
{{- define "chaosrun.stepTolerations" -}}
{{- $out := list }}
{{- range .Values.stepPods.tolerations }}
{{- $t := .key }}
{{- if and .value (ne (default "Equal" .operator) "Exists") }}{{ $t = printf "%s=%s" $t .value }}{{ end }}
{{- if .effect }}{{ $t = printf "%s:%s" $t .effect }}{{ end }}
{{- $out = append $out $t }}
{{- end }}
{{- join "," $out }}
{{- end }}
