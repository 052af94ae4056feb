{{/* Names, labels and the facts every template shares. */}}

{{- define "hoera.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "hoera.labels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hoera
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one service's pods; call with (dict "root" $ "service" "intake"). */}}
{{- define "hoera.selectorLabels" -}}
app.kubernetes.io/name: {{ default .root.Chart.Name .root.Values.nameOverride }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .service }}
{{- end -}}

{{- define "hoera.serviceLabels" -}}
{{ include "hoera.labels" .root }}
app.kubernetes.io/component: {{ .service }}
{{- end -}}

{{- define "hoera.serviceName" -}}
{{- printf "%s-%s" (include "hoera.fullname" .root) .service -}}
{{- end -}}

{{/* The generated plan of topics and users (hoera-events helm), read once per template. */}}
{{- define "hoera.kafkaPlan" -}}
{{- .Files.Get "files/kafka.json" -}}
{{- end -}}

{{- define "hoera.kafkaCluster" -}}
{{- default (printf "%s-kafka" (include "hoera.fullname" .)) .Values.kafka.clusterName -}}
{{- end -}}

{{- define "hoera.kafkaBootstrap" -}}
{{- printf "%s-kafka-bootstrap.%s.svc:%v" (include "hoera.kafkaCluster" .) .Release.Namespace .Values.kafka.listener.port -}}
{{- end -}}

{{/* The Kafka user (and SCRAM user name) of a service, the platform or the operator. */}}
{{- define "hoera.kafkaUser" -}}
{{- printf "%s-%s" (include "hoera.fullname" .root) .service -}}
{{- end -}}

{{/* The CloudNativePG cluster of a service. */}}
{{- define "hoera.dbCluster" -}}
{{- printf "%s-%s-db" (include "hoera.fullname" .root) .service -}}
{{- end -}}

{{- define "hoera.image" -}}
{{- $v := .root.Values.image -}}
{{- printf "%s%s%s:%s" $v.registry $v.repositoryPrefix .service (default .root.Chart.AppVersion $v.tag) -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: after the preStop sleep and the kit's own shutdown deadline. */}}
{{- define "hoera.terminationGrace" -}}
{{- $s := .Values.shutdown -}}
{{- add (int $s.preStopSleepSeconds) (int (ceil $s.graceSeconds)) (int $s.marginSeconds) -}}
{{- end -}}

{{/* Refuse to render what would not start: the services' own checks, said before the rollout. */}}
{{- define "hoera.validate" -}}
{{- $v := .Values -}}
{{- if not $v.identityProvider.issuer -}}
{{- fail "identityProvider.issuer is required (HOERA_JWT_ISSUER)" -}}
{{- end -}}
{{- if not (or $v.identityProvider.jwksUrl $v.identityProvider.existingSecret) -}}
{{- fail "identityProvider.jwksUrl or identityProvider.existingSecret is required (how tokens are verified)" -}}
{{- end -}}
{{- if and (eq $v.environment "production") (not $v.relaySigning.existingSecret) -}}
{{- fail "relaySigning.existingSecret is required in production (intake signs the contacts it relays)" -}}
{{- end -}}
{{- if and $v.postgres.backup.enabled (eq $v.postgres.backup.method "barmanObjectStore") (not $v.postgres.backup.barmanObjectStore.destinationPath) -}}
{{- fail "postgres.backup.barmanObjectStore.destinationPath is required when backups are enabled" -}}
{{- end -}}
{{- if and $v.postgres.backup.enabled (eq $v.postgres.backup.method "plugin") (not $v.postgres.backup.plugin.objectStoreName) -}}
{{- fail "postgres.backup.plugin.objectStoreName is required for the plugin backup method" -}}
{{- end -}}
{{- if lt (int $v.postgres.instances) 2 -}}
{{- fail "postgres.instances must be 2 or more: a primary and at least one standby" -}}
{{- end -}}
{{- if and $v.serviceTokens.tokenUrl (not $v.serviceTokens.existingSecret) -}}
{{- fail "serviceTokens.existingSecret is required with serviceTokens.tokenUrl (each calling service's client)" -}}
{{- end -}}
{{- range $name, $svc := $v.services -}}
{{- range $called := ($svc.calls | default list) -}}
{{- if not (hasKey $v.services $called) -}}
{{- fail (printf "services.%s.calls names %s, which is not a service" $name $called) -}}
{{- end -}}
{{- end -}}
{{- if and $svc.calls (not $v.serviceTokens.tokenUrl) (not $v.identityProvider.sharedSecretKey) -}}
{{- fail (printf "services.%s calls other services: set serviceTokens.tokenUrl (client credentials) or identityProvider.sharedSecretKey" $name) -}}
{{- end -}}
{{- if gt (int $svc.minReplicas) (int $svc.maxReplicas) -}}
{{- fail (printf "services.%s.minReplicas is above its maxReplicas" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "hoera.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end -}}
