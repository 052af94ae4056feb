{{/* The environment of one service's containers (the service and its migration init container);
call with (dict "root" $ "service" "intake" "cfg" $cfg). Names are the kit's HOERA_* settings. */}}
{{- define "hoera.env" -}}
{{- $v := .root.Values -}}
{{- $user := include "hoera.kafkaUser" (dict "root" .root "service" .service) -}}
- name: HOERA_ENVIRONMENT
  value: {{ $v.environment | quote }}
- name: HOERA_HTTP_HOST
  value: "0.0.0.0"
- name: HOERA_HTTP_PORT
  value: {{ .cfg.port | quote }}
- name: HOERA_LOG_LEVEL
  value: {{ $v.logLevel | quote }}
- name: HOERA_LOG_JSON
  value: "true"
- name: HOERA_SHUTDOWN_GRACE_S
  value: {{ $v.shutdown.graceSeconds | quote }}
- name: HOERA_MIGRATE_ON_START
  value: "false"
- name: HOERA_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "hoera.dbCluster" . }}-app
      key: uri
- name: HOERA_KAFKA_BOOTSTRAP
  value: {{ include "hoera.kafkaBootstrap" .root | quote }}
- name: HOERA_CONSUMER_GROUP_PREFIX
  value: {{ $v.kafka.consumerGroupPrefix | quote }}
{{- /* SCRAM-SHA-512 over TLS: the user's password from the User Operator's Secret, the cluster CA mounted. */}}
- name: HOERA_KAFKA_SECURITY_PROTOCOL
  value: SASL_SSL
- name: HOERA_KAFKA_SASL_MECHANISM
  value: SCRAM-SHA-512
- name: HOERA_KAFKA_SASL_USERNAME
  value: {{ $user | quote }}
- name: HOERA_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $user }}
      key: password
- name: HOERA_KAFKA_SSL_CAFILE
  value: /var/run/hoera/kafka-ca/ca.crt
- name: HOERA_JWT_ISSUER
  value: {{ $v.identityProvider.issuer | quote }}
- name: HOERA_JWT_AUDIENCE
  value: {{ $v.identityProvider.audience | quote }}
{{- with $v.identityProvider.jwksUrl }}
- name: HOERA_JWT_JWKS_URL
  value: {{ . | quote }}
{{- end }}
{{- if and $v.identityProvider.existingSecret $v.identityProvider.publicKeyKey }}
- name: HOERA_JWT_PUBLIC_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $v.identityProvider.existingSecret }}
      key: {{ $v.identityProvider.publicKeyKey }}
{{- end }}
{{- if and $v.identityProvider.existingSecret $v.identityProvider.sharedSecretKey }}
- name: HOERA_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $v.identityProvider.existingSecret }}
      key: {{ $v.identityProvider.sharedSecretKey }}
{{- end }}
{{- with .cfg.publicBaseUrl }}
- name: HOERA_PUBLIC_BASE_URL
  value: {{ . | quote }}
{{- end }}
{{- with $v.identityProvider.staffSignIn }}
- name: HOERA_OIDC_PROVIDERS
  value: {{ toJson . | quote }}
{{- end }}
{{- /* The staff menu links each service's pages where people reach them. */}}
{{- $pages := dict }}
{{- range $name, $svc := $v.services }}
{{- if $svc.publicBaseUrl }}{{ $_ := set $pages $name $svc.publicBaseUrl }}{{ end }}
{{- end }}
{{- if $pages }}
- name: HOERA_STAFF_PAGES
  value: {{ toJson $pages | quote }}
{{- end }}
{{- if .cfg.sendsMail }}
- name: HOERA_SMTP_HOST
  value: {{ $v.smtp.host | quote }}
- name: HOERA_SMTP_PORT
  value: {{ $v.smtp.port | quote }}
- name: HOERA_SMTP_STARTTLS
  value: {{ $v.smtp.starttls | quote }}
- name: HOERA_MAIL_FROM
  value: {{ $v.smtp.mailFrom | quote }}
{{- with $v.smtp.username }}
- name: HOERA_SMTP_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- with $v.smtp.existingSecret }}
- name: HOERA_SMTP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $v.smtp.passwordKey }}
{{- end }}
{{- end }}
{{- if and .cfg.sendsSms $v.sms.gatewayUrl }}
- name: HOERA_SMS_GATEWAY_URL
  value: {{ $v.sms.gatewayUrl | quote }}
{{- end }}
{{- if and .cfg.callsDirectory $v.directory.url }}
- name: HOERA_CUSTOMER_DIRECTORY_URL
  value: {{ $v.directory.url | quote }}
{{- with $v.directory.batchUrl }}
- name: HOERA_CUSTOMER_DIRECTORY_BATCH_URL
  value: {{ . | quote }}
{{- end }}
{{- with $v.directory.existingSecret }}
- name: HOERA_CUSTOMER_DIRECTORY_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $v.directory.tokenKey }}
{{- end }}
{{- end }}
{{- /* The services this one calls, at their in-cluster Service, and how it proves it is a service. */}}
{{- if .cfg.calls }}
{{- $urls := dict }}
{{- range $called := .cfg.calls }}
{{- $peer := index $v.services $called }}
{{- $_ := set $urls $called (printf "http://%s:%v" (include "hoera.serviceName" (dict "root" $.root "service" $called)) $peer.port) }}
{{- end }}
- name: HOERA_SERVICE_URLS
  value: {{ toJson $urls | quote }}
{{- if $v.serviceTokens.tokenUrl }}
- name: HOERA_SERVICE_TOKEN_URL
  value: {{ $v.serviceTokens.tokenUrl | quote }}
- name: HOERA_SERVICE_CLIENT_ID
  valueFrom:
    secretKeyRef:
      name: {{ $v.serviceTokens.existingSecret }}
      key: {{ printf "%s-client-id" .service }}
- name: HOERA_SERVICE_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $v.serviceTokens.existingSecret }}
      key: {{ printf "%s-client-secret" .service }}
{{- end }}
{{- end }}
{{- if and (eq .service "intake") $v.relaySigning.existingSecret }}
- name: HOERA_RELAY_SIGNING_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $v.relaySigning.existingSecret }}
      key: {{ $v.relaySigning.key }}
{{- end }}
{{- with $v.telemetry.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: HOERA_TRACE_SAMPLE_RATIO
  value: {{ $v.telemetry.sampleRatio | quote }}
{{- range $name, $value := .cfg.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}
