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
