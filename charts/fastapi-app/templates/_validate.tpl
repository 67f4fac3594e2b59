{{/*
Values validation (Bitnami style): every rule adds one readable line naming the
keys and the rule; the render fails if any line was added. values.schema.json
checks types and ranges; these rules check values against each other.
*/}}
{{- define "fastapi-app.validateValues" -}}
{{- $messages := list -}}
{{- $messages = append $messages (include "fastapi-app.validateValues.shutdownTimeline" .) -}}
{{- $messages = append $messages (include "fastapi-app.validateValues.longestRequest" .) -}}
{{- $messages = append $messages (include "fastapi-app.validateValues.preStop" .) -}}
{{- $messages = append $messages (include "fastapi-app.validateValues.strategy" .) -}}
{{- $messages = append $messages (include "fastapi-app.validateValues.pdb" .) -}}
{{- $messages = append $messages (include "fastapi-app.validateValues.startupWindow" .) -}}
{{- $messages = append $messages (include "fastapi-app.validateValues.progressDeadline" .) -}}
{{- $messages = append $messages (include "fastapi-app.validateValues.autoscaling" .) -}}
{{- $messages = append $messages (include "fastapi-app.validateValues.service" .) -}}
{{- $messages = append $messages (include "fastapi-app.validateValues.ingress" .) -}}
{{- $messages = append $messages (include "fastapi-app.validateValues.httpRoute" .) -}}
{{- $messages = append $messages (include "fastapi-app.validateValues.proxy" .) -}}
{{- $messages = append $messages (include "fastapi-app.validateValues.keepAlive" .) -}}
{{- $messages = append $messages (include "fastapi-app.validateValues.database" .) -}}
{{- $messages = append $messages (include "fastapi-app.validateValues.migrations" .) -}}
{{- $messages = append $messages (include "fastapi-app.validateValues.networkPolicy" .) -}}
{{- $messages = append $messages (include "fastapi-app.validateValues.networkPolicyApiServer" .) -}}
{{- $messages = without $messages "" -}}
{{- if $messages }}
{{- printf "\nVALUES VALIDATION:\n%s" (join "\n" $messages) | fail -}}
{{- end }}
{{- end }}

{{/* "0", 0 and "0%" all mean zero for an int-or-percent field. */}}
{{- define "fastapi-app.isZero" -}}
{{- if has (toString .) (list "0" "0%") }}true{{ end }}
{{- end }}

{{- define "fastapi-app.validateValues.shutdownTimeline" -}}
{{- $l := .Values.lifecycle -}}
{{- $preStop := include "fastapi-app.preStopSeconds" . | int -}}
{{- $total := add $preStop ($l.drainSeconds | int) ($l.gracefulShutdownSeconds | int) ($l.marginSeconds | int) -}}
{{- if and (not (kindIs "invalid" .Values.terminationGracePeriodSeconds)) (gt $total (.Values.terminationGracePeriodSeconds | int)) -}}
shutdown timeline: lifecycle.preStop.seconds ({{ $preStop }}) + lifecycle.drainSeconds ({{ $l.drainSeconds }}) + lifecycle.gracefulShutdownSeconds ({{ $l.gracefulShutdownSeconds }}) + lifecycle.marginSeconds ({{ $l.marginSeconds }}) = {{ $total }}s must not exceed terminationGracePeriodSeconds ({{ .Values.terminationGracePeriodSeconds }}), or the kubelet kills pods with requests in flight (leave terminationGracePeriodSeconds null to compute it).
{{- end -}}
{{- end }}

{{/*
A request accepted at the last moment of the drain has gracefulShutdownSeconds left
to finish before the server stops waiting for it.
*/}}
{{- define "fastapi-app.validateValues.longestRequest" -}}
{{- $l := .Values.lifecycle -}}
{{- if gt ($l.longestRequestSeconds | int) ($l.gracefulShutdownSeconds | int) -}}
shutdown timeline: lifecycle.longestRequestSeconds ({{ $l.longestRequestSeconds }}) must not exceed lifecycle.gracefulShutdownSeconds ({{ $l.gracefulShutdownSeconds }}), or a request that starts as the drain ends is cut off by the shutdown; raise gracefulShutdownSeconds.
{{- end -}}
{{- end }}

{{- define "fastapi-app.validateValues.preStop" -}}
{{- $p := .Values.lifecycle.preStop -}}
{{- if and (ne $p.type "none") (lt ($p.seconds | int) 1) -}}
preStop: lifecycle.preStop.seconds must be at least 1 when lifecycle.preStop.type is {{ $p.type }}; use lifecycle.preStop.type=none for no pause.
{{- else if and (eq $p.type "sleep") (semverCompare "<1.30.0-0" .Capabilities.KubeVersion.Version) -}}
preStop: lifecycle.preStop.type=sleep needs Kubernetes >= 1.30 (cluster is {{ .Capabilities.KubeVersion.Version }}); use lifecycle.preStop.type=exec.
{{- end -}}
{{- end }}

{{- define "fastapi-app.validateValues.strategy" -}}
{{- $r := .Values.strategy.rollingUpdate -}}
{{- if and (include "fastapi-app.isZero" $r.maxSurge) (include "fastapi-app.isZero" $r.maxUnavailable) -}}
strategy: strategy.rollingUpdate.maxSurge and strategy.rollingUpdate.maxUnavailable cannot both be 0, or a rollout can never replace a pod.
{{- end -}}
{{- end }}

{{- define "fastapi-app.validateValues.pdb" -}}
{{- $pdb := .Values.podDisruptionBudget -}}
{{- $min := include "fastapi-app.minReplicas" . | int -}}
{{- if and $pdb.enabled (gt $min 1) -}}
{{- $hasMin := not (kindIs "invalid" $pdb.minAvailable) -}}
{{- $hasMax := not (kindIs "invalid" $pdb.maxUnavailable) -}}
{{- if and $hasMin $hasMax -}}
podDisruptionBudget: set only one of podDisruptionBudget.minAvailable and podDisruptionBudget.maxUnavailable.
{{- else if and $hasMax (include "fastapi-app.isZero" $pdb.maxUnavailable) -}}
podDisruptionBudget: podDisruptionBudget.maxUnavailable=0 blocks every eviction (node drains hang); allow at least 1.
{{- else if and $hasMin (eq (toString $pdb.minAvailable) "100%") -}}
podDisruptionBudget: podDisruptionBudget.minAvailable=100% blocks every eviction (node drains hang); use a lower value.
{{- else if and $hasMin (not (kindIs "string" $pdb.minAvailable)) (ge ($pdb.minAvailable | int) $min) -}}
podDisruptionBudget: podDisruptionBudget.minAvailable ({{ $pdb.minAvailable }}) must be lower than the number of pods ({{ $min }}, {{ ternary "autoscaling.minReplicas" "replicaCount" .Values.autoscaling.enabled }}), or it blocks every eviction.
{{- end -}}
{{- end -}}
{{- end }}

{{/*
The startup probe checks the readiness endpoint, which answers 503 during app.warmupSeconds:
its window must outlast the warm-up or every pod is restarted before it is ready.
*/}}
{{- define "fastapi-app.validateValues.startupWindow" -}}
{{- $s := .Values.probes.startup -}}
{{- if $s.enabled -}}
{{- $window := add ($s.initialDelaySeconds | int) (mul ($s.failureThreshold | int) ($s.periodSeconds | int)) -}}
{{- if le $window (.Values.app.warmupSeconds | int) -}}
probes: probes.startup.initialDelaySeconds + failureThreshold * periodSeconds ({{ $window }}s) must exceed app.warmupSeconds ({{ .Values.app.warmupSeconds }}), because the startup probe checks {{ .Values.probes.startup.path }}, which is 503 while warming up.
{{- end -}}
{{- end -}}
{{- end }}

{{/*
The slowest start the probes tolerate (startup window, or the warm-up) plus the
readiness delay and minReadySeconds must fit in progressDeadlineSeconds, or the
Deployment reports a failed rollout while the kubelet is still waiting.
*/}}
{{- define "fastapi-app.validateValues.progressDeadline" -}}
{{- $p := .Values.probes -}}
{{- $window := 0 -}}
{{- if $p.startup.enabled -}}
{{- $window = add ($p.startup.initialDelaySeconds | int) (mul ($p.startup.failureThreshold | int) ($p.startup.periodSeconds | int)) -}}
{{- end -}}
{{- $start := max $window (.Values.app.warmupSeconds | int) -}}
{{- $readyDelay := 0 -}}
{{- if $p.readiness.enabled -}}
{{- $readyDelay = add ($p.readiness.initialDelaySeconds | int) (mul (sub ($p.readiness.successThreshold | int) 1) ($p.readiness.periodSeconds | int)) -}}
{{- end -}}
{{- $total := add $start $readyDelay (.Values.minReadySeconds | int) -}}
{{- if ge $total (.Values.progressDeadlineSeconds | int) -}}
probes: a pod may need {{ $total }}s to become available (startup probe initialDelaySeconds + failureThreshold * periodSeconds, or app.warmupSeconds, + probes.readiness delay + minReadySeconds) but progressDeadlineSeconds is {{ .Values.progressDeadlineSeconds }}; raise progressDeadlineSeconds or shorten the probes.
{{- end -}}
{{- end }}

{{- define "fastapi-app.validateValues.autoscaling" -}}
{{- $a := .Values.autoscaling -}}
{{- if $a.enabled -}}
{{- $req := default dict .Values.resources.requests -}}
{{- if gt ($a.minReplicas | int) ($a.maxReplicas | int) -}}
autoscaling: autoscaling.minReplicas ({{ $a.minReplicas }}) must not exceed autoscaling.maxReplicas ({{ $a.maxReplicas }}).
{{- else if and (kindIs "invalid" $a.targetCPUUtilizationPercentage) (kindIs "invalid" $a.targetMemoryUtilizationPercentage) -}}
autoscaling: set autoscaling.targetCPUUtilizationPercentage or autoscaling.targetMemoryUtilizationPercentage, or the HPA has no metric.
{{- else if and (not (kindIs "invalid" $a.targetCPUUtilizationPercentage)) (not $req.cpu) -}}
autoscaling: autoscaling.targetCPUUtilizationPercentage needs resources.requests.cpu (utilization is a percentage of the request).
{{- else if and (not (kindIs "invalid" $a.targetMemoryUtilizationPercentage)) (not $req.memory) -}}
autoscaling: autoscaling.targetMemoryUtilizationPercentage needs resources.requests.memory (utilization is a percentage of the request).
{{- end -}}
{{- end -}}
{{- end }}

{{- define "fastapi-app.validateValues.service" -}}
{{- if and (not (kindIs "invalid" .Values.service.nodePort)) (ne .Values.service.type "NodePort") -}}
service: service.nodePort ({{ .Values.service.nodePort }}) needs service.type=NodePort (it is {{ .Values.service.type }}).
{{- end -}}
{{- end }}

{{- define "fastapi-app.validateValues.ingress" -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) -}}
ingress: ingress.enabled needs at least one entry in ingress.hosts.
{{- end -}}
{{- end }}

{{- define "fastapi-app.validateValues.httpRoute" -}}
{{- if and .Values.httpRoute.enabled (not .Values.httpRoute.parentRefs) -}}
httpRoute: httpRoute.enabled needs at least one entry in httpRoute.parentRefs (the Gateway to attach to, e.g. {name: traefik, namespace: traefik}).
{{- end -}}
{{- end }}

{{/*
Documented idle timeout (seconds) of each proxy kind for its connections to the pods
(docs/contracts.md "Keep-alive and the proxy in front" cites the sources). `other`
has none: it needs proxy.upstreamIdleTimeoutSeconds.
*/}}
{{- define "fastapi-app.proxyDefaultIdleTimeouts" -}}
{{- dict "traefik" 90 "nginx" 60 "aws-alb" 60 "gcp" 600 | toJson -}}
{{- end }}

{{/*
The proxy's effective idle timeout for pod connections: proxy.upstreamIdleTimeoutSeconds
when set, else the kind's default; empty when there is no proxy or no known number.
*/}}
{{- define "fastapi-app.proxyIdleTimeout" -}}
{{- $p := .Values.proxy -}}
{{- if ne $p.kind "none" -}}
{{- if not (kindIs "invalid" $p.upstreamIdleTimeoutSeconds) -}}
{{- $p.upstreamIdleTimeoutSeconds | int -}}
{{- else -}}
{{- $defaults := include "fastapi-app.proxyDefaultIdleTimeouts" . | fromJson -}}
{{- with (get $defaults $p.kind) -}}{{ . | int }}{{- end -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/*
Something routes to the pods (an Ingress or an HTTPRoute of this chart): the chart must
know which proxy that is, to check the keep-alive ordering below.
*/}}
{{- define "fastapi-app.validateValues.proxy" -}}
{{- $p := .Values.proxy -}}
{{- $routes := list -}}
{{- if .Values.ingress.enabled }}{{ $routes = append $routes "ingress.enabled" }}{{ end -}}
{{- if .Values.httpRoute.enabled }}{{ $routes = append $routes "httpRoute.enabled" }}{{ end -}}
{{- if and $routes (eq $p.kind "none") -}}
proxy: {{ join " and " $routes }} {{ ternary "need" "needs" (gt (len $routes) 1) }} proxy.kind set to the proxy that serves the route (traefik, nginx, aws-alb, gcp or other), so that lifecycle.keepAliveSeconds can be checked against its idle timeout.
{{- else if and (eq $p.kind "none") (not (kindIs "invalid" $p.upstreamIdleTimeoutSeconds)) -}}
proxy: proxy.upstreamIdleTimeoutSeconds ({{ $p.upstreamIdleTimeoutSeconds }}) needs proxy.kind (it is none); use proxy.kind=other for a proxy the chart does not know.
{{- else if and (eq $p.kind "other") (kindIs "invalid" $p.upstreamIdleTimeoutSeconds) -}}
proxy: proxy.kind=other needs proxy.upstreamIdleTimeoutSeconds (the chart knows no default for it): set the idle timeout of the proxy's connections to the pods.
{{- end -}}
{{- end }}

{{/*
Keep-alive ordering: the proxy must close an idle connection to a pod before the app
does. Otherwise it may send a request on a connection uvicorn has just closed, and the
client gets a 502 (the classic rolling-update 502, and a steady trickle without deploys).
*/}}
{{- define "fastapi-app.validateValues.keepAlive" -}}
{{- $idle := include "fastapi-app.proxyIdleTimeout" . -}}
{{- $keepAlive := .Values.lifecycle.keepAliveSeconds | int -}}
{{- if and $idle (le $keepAlive ($idle | int)) -}}
{{- $source := ternary "" (printf ", %s's default" .Values.proxy.kind) (not (kindIs "invalid" .Values.proxy.upstreamIdleTimeoutSeconds)) -}}
keep-alive: lifecycle.keepAliveSeconds ({{ $keepAlive }}) must be above proxy.upstreamIdleTimeoutSeconds ({{ $idle }}{{ $source }}): the proxy would reuse connections the app has closed (502s); raise lifecycle.keepAliveSeconds, or lower the proxy's idle timeout and set proxy.upstreamIdleTimeoutSeconds to it.
{{- end -}}
{{- end }}

{{- define "fastapi-app.validateValues.database" -}}
{{- $d := .Values.database -}}
{{- if and $d.url $d.existingSecret -}}
database: set only one of database.url and database.existingSecret.
{{- else if and .Values.migrations.enabled (not (or $d.url $d.existingSecret)) -}}
migrations: migrations.enabled needs database.existingSecret or database.url, or the Job migrates a throw-away SQLite file.
{{- end -}}
{{- end }}

{{/*
statement_timeout below the Job's deadline: the server cancels a long statement itself
(and the Job fails with its error) before Kubernetes kills the pod.
*/}}
{{- define "fastapi-app.validateValues.migrations" -}}
{{- $m := .Values.migrations -}}
{{- if and $m.enabled (ge ($m.statementTimeoutSeconds | int) ($m.activeDeadlineSeconds | int)) -}}
migrations: migrations.statementTimeoutSeconds ({{ $m.statementTimeoutSeconds }}) must be lower than migrations.activeDeadlineSeconds ({{ $m.activeDeadlineSeconds }}), so that PostgreSQL cancels a long statement before the Job is killed.
{{- end -}}
{{- end }}

{{- define "fastapi-app.validateValues.networkPolicy" -}}
{{- $n := .Values.networkPolicy -}}
{{- if and $n.enabled (not $n.allowSameNamespace) (not $n.from) -}}
networkPolicy: networkPolicy.enabled with allowSameNamespace=false and an empty networkPolicy.from admits no traffic at all.
{{- end -}}
{{- end }}

{{/*
The deploy kit's verify reads each pod's version (and sends the smoke checks) through the
API server's pod proxy: that traffic comes from the control plane, not from a pod, and a
NetworkPolicy without the API server's addresses drops it, so every deploy fails verify.
*/}}
{{- define "fastapi-app.validateValues.networkPolicyApiServer" -}}
{{- $n := .Values.networkPolicy -}}
{{- if and $n.enabled (not $n.apiServerCIDRs) -}}
networkPolicy: networkPolicy.enabled needs networkPolicy.apiServerCIDRs, because the deploy's verify reads each pod's version through the API server's pod proxy (traffic from the control plane, which the policy would drop); set the API server's CIDRs (`kubectl get endpointslices -n default kubernetes`; managed clusters: the control plane's CIDR).
{{- end -}}
{{- end }}
