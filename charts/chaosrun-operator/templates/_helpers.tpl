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

{{/* The operator image, for its containers and the built-in scenario Jobs: repository@digest when a digest is set, else repository:tag. */}}
{{- define "chaosrun.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
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
{{- if and .Values.networkPolicy.enabled .Values.serviceMonitor.enabled (not .Values.networkPolicy.metricsFrom) }}
{{- fail "serviceMonitor.enabled with networkPolicy.enabled needs networkPolicy.metricsFrom: the NetworkPolicy would drop Prometheus's scrapes. Add your Prometheus pods as a peer, e.g. metricsFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}, podSelector: {matchLabels: {app.kubernetes.io/name: prometheus}}}]" }}
{{- end }}
{{- end }}

{{/* The ValidatingAdmissionPolicy API (admissionregistration.k8s.io/v1, Kubernetes 1.30) or a clear refusal.
A cluster's discovery lists kinds (group/version/Kind); helm template's offline set lists group/versions only,
so there the Kubernetes version (--kube-version) decides. */}}
{{- define "chaosrun.requireAdmissionPolicyApi" -}}
{{- $api := .Capabilities.APIVersions }}
{{- $group := "admissionregistration.k8s.io/v1" }}
{{- $offline := and ($api.Has $group) (not ($api.Has (printf "%s/ValidatingWebhookConfiguration" $group))) }}
{{- $served := or ($api.Has (printf "%s/ValidatingAdmissionPolicy" $group)) $offline }}
{{- if not (and $served (semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version)) }}
{{- fail (printf "admissionPolicy.enabled needs the ValidatingAdmissionPolicy API (admissionregistration.k8s.io/v1, Kubernetes 1.30 or newer); this cluster (%s) does not serve it. Without the policy, RBAC alone protects the cluster: anyone who may create ChaosRuns can run any image as any ServiceAccount of the run's namespace and delete pods wherever the scenario ServiceAccount may. Upgrade Kubernetes, or set admissionPolicy.enabled=false and grant `create chaosruns` only to those who may already create Jobs in that namespace and delete pods where their runs aim (README, RBAC)." .Capabilities.KubeVersion.Version) }}
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

{{/* The node agent's resource names, labels and image. Its pods carry their own app.kubernetes.io/name, so
the operator's selectors (the Deployment, the Service, the NetworkPolicy) never match them. */}}
{{- define "chaosrun.agentName" -}}
{{- printf "%s-agent" (include "chaosrun.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "chaosrun.agentSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-agent" (include "chaosrun.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end }}

{{- define "chaosrun.agentLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "chaosrun.agentSelectorLabels" . }}
app.kubernetes.io/part-of: {{ include "chaosrun.name" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "chaosrun.agentImage" -}}
{{- $i := .Values.agent.image }}
{{- if $i.digest }}
{{- printf "%s@%s" $i.repository $i.digest }}
{{- else }}
{{- printf "%s:%s" $i.repository (default .Chart.AppVersion $i.tag) }}
{{- end }}
{{- end }}
