{{/* The release's full name: the release name, with the chart's name unless it holds it already. */}}
{{- define "jitsi-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "jitsi-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The selector labels as k=v,k=v (--operator-pod-labels): the recorders' NetworkPolicy admits the pods that carry them. */}}
{{- define "jitsi-operator.selectorLabelsArg" -}}
{{- $pairs := list -}}
{{- range $k, $v := include "jitsi-operator.selectorLabels" . | fromYaml -}}
{{- $pairs = append $pairs (printf "%s=%v" $k $v) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{- define "jitsi-operator.labels" -}}
{{ include "jitsi-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "jitsi-operator.serviceAccountName" -}}
{{- default (include "jitsi-operator.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* Where Prosody and the recorders reach the receiver. */}}
{{- define "jitsi-operator.receiverURL" -}}
{{- if .Values.receiver.url -}}
{{- .Values.receiver.url -}}
{{- else -}}
{{- printf "http://%s-receiver.%s.svc.%s:%d" (include "jitsi-operator.fullname" .) .Release.Namespace .Values.clusterDomain (int .Values.receiver.port) -}}
{{- end -}}
{{- end -}}

{{/* The receiver's own Deployment (receiver.separateDeployment): its pods' selector labels. They differ from the operator pods' in app.kubernetes.io/name, so that neither Deployment's selector matches the other's pods, and the recorders' NetworkPolicy (which admits the operator pods) does not admit them. */}}
{{- define "jitsi-operator.receiverSelectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}-receiver
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The selector labels of the pods that serve the receiver: the receiver's own, or the operator's. */}}
{{- define "jitsi-operator.receiverPodSelector" -}}
{{- if .Values.receiver.separateDeployment -}}
{{ include "jitsi-operator.receiverSelectorLabels" . }}
{{- else -}}
{{ include "jitsi-operator.selectorLabels" . }}
{{- end -}}
{{- end -}}

{{- define "jitsi-operator.receiverServiceAccountName" -}}
{{- default (printf "%s-receiver" (include "jitsi-operator.fullname" .)) .Values.receiver.serviceAccount.name -}}
{{- end -}}

{{/* The image of both Deployments. */}}
{{- define "jitsi-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
The operator's rules (files/role.yaml, from the markers) split by scope, as YAML
{cluster: [...], namespaced: [...]}: nodes are cluster-scoped, everything else lives in a
namespace. With watchNamespaces the namespaced rules become a Role in each namespace.
*/}}
{{- define "jitsi-operator.rulesByScope" -}}
{{- $clusterScoped := list "nodes" -}}
{{- $cluster := list -}}
{{- $namespaced := list -}}
{{- range (.Files.Get "files/role.yaml" | fromYaml).rules -}}
{{- $c := list -}}
{{- $n := list -}}
{{- range .resources -}}
{{- if has . $clusterScoped -}}
{{- $c = append $c . -}}
{{- else -}}
{{- $n = append $n . -}}
{{- end -}}
{{- end -}}
{{- if $c -}}
{{- $cluster = append $cluster (dict "apiGroups" .apiGroups "resources" $c "verbs" .verbs) -}}
{{- end -}}
{{- if $n -}}
{{- $namespaced = append $namespaced (dict "apiGroups" .apiGroups "resources" $n "verbs" .verbs) -}}
{{- end -}}
{{- end -}}
{{- dict "cluster" $cluster "namespaced" $namespaced | toYaml -}}
{{- end -}}

{{/*
The receiver's rules (receiver.separateDeployment): it reads deployments, pools, Meetings, the
recorder pods and the Secrets it authenticates with (the operator's own from its cache, those a
deployment names by name), writes Meeting status, and keeps each recorder's Jibri state on its
Pod. No leader election, no events, nothing cluster-scoped.
*/}}
{{- define "jitsi-operator.receiverRules" -}}
- apiGroups: [jitsi.operator.dev]
  resources: [jitsideployments, jibripools, meetings]
  verbs: [get, list, watch]
- apiGroups: [jitsi.operator.dev]
  resources: [meetings/status]
  verbs: [patch]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
{{- end -}}

{{/*
The stream destination policy's flags, for every process that checks destinations (the Meeting
and JibriPool controllers, the receiver's answers to the relays).
*/}}
{{- define "jitsi-operator.destinationArgs" -}}
{{- $args := list -}}
{{- with .Values.destinations.clusterNetworks }}{{ $args = append $args (printf "- --destination-cluster-networks=%s" (join "," .)) }}{{ end -}}
{{- with .Values.destinations.allowList }}{{ $args = append $args (printf "- --destination-allow-list=%s" (join "," .)) }}{{ end -}}
{{- join "\n" $args -}}
{{- end }}
