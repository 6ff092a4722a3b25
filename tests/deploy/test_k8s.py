"""deploy/k8s/: every overlay renders with kubectl's built-in kustomize and each resource validates
offline against the Kubernetes schemas (kubernetes-validate); the manifests keep the rules the
README promises (probes, one beat, non-root read-only containers, secrets only by reference) and
name the image the Dockerfile builds."""

from __future__ import annotations

import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from tests.conftest import ROOT

K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
# The schemas of the Kubernetes release the manifests are written for (kubectl 1.32 renders them).
KUBERNETES_VERSION = "1.32.0"
IMAGE = "registry.example.com/dynamics-crm-setup-portal"


def render(overlay: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with its built-in kustomize) is needed: see deploy/k8s/README.md"
    result = subprocess.run([kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, render(request.param)


def _one(docs: list[dict], kind: str, name: str) -> dict:
    [doc] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def _pod_specs(docs: list[dict]) -> list[tuple[str, dict]]:
    return [(d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in docs if d["kind"] in ("Deployment", "Job")]


def test_there_are_a_staging_and_a_production_overlay():
    assert {"staging", "production"} <= set(OVERLAYS)


def test_every_resource_validates_against_the_kubernetes_schemas(rendered):
    _, docs = rendered
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # the Prometheus Operator's CRD: checked below, no schema in kubernetes-validate
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_refuses_a_misspelt_field():
    """So a pass above means something."""
    deployment = _one(render("staging"), "Deployment", "portal-web")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_web_is_probed_scaled_and_kept_available(rendered):
    _, docs = rendered
    web = _one(docs, "Deployment", "portal-web")["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {p["name"]: p["containerPort"] for p in web["ports"]} == {"http": 8000, "metrics": 9100}
    hpa = _one(docs, "HorizontalPodAutoscaler", "portal-web")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "portal-web" and hpa["spec"]["minReplicas"] >= 1
    budgets = {d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] for d in docs
               if d["kind"] == "PodDisruptionBudget"}
    assert budgets == {"portal-web", "portal-worker"}
    ingress = _one(docs, "Ingress", "portal")
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] == {"name": "http"}


def test_there_is_one_beat_replaced_never_rolled(rendered):
    _, docs = rendered
    beat = _one(docs, "Deployment", "portal-beat")
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"] == {"type": "Recreate"}
    assert not any(d["kind"] == "HorizontalPodAutoscaler" and d["spec"]["scaleTargetRef"]["name"] == "portal-beat"
                   for d in docs)
    command = beat["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--schedule=/tmp/celerybeat-schedule" in command  # the root file system is read-only


def test_a_migration_job_runs_the_same_image(rendered):
    _, docs = rendered
    job = _one(docs, "Job", "portal-migrate")["spec"]["template"]["spec"]
    assert "migrate --noinput" in " ".join(job["containers"][0]["command"])
    images = {c["image"] for _, spec in _pod_specs(docs) for c in spec["containers"]}
    assert len(images) == 1 and images.pop().startswith(IMAGE + ":")


def test_containers_run_as_non_root_on_a_read_only_root_with_limits(rendered):
    _, docs = rendered
    for name, spec in _pod_specs(docs):
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 1000, name
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]) & set(container["resources"]["limits"])
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], name
            if name in ("portal-web", "portal-worker"):
                assert "emptyDir" in volumes[mounts["/var/run/prometheus"]], name


def test_secrets_come_from_an_existing_secret_only(rendered):
    _, docs = rendered
    assert not any(d["kind"] == "Secret" for d in docs)
    secretish = re.compile(r"SECRET|PASSWORD|TOKEN|KEY|DATABASE_URL|BROKER_URL|CACHE_URL|EMAIL_URL", re.I)
    settings = next(d for d in docs if d["kind"] == "ConfigMap")
    assert not [name for name in settings["data"] if secretish.search(name)]
    for name, spec in _pod_specs(docs):
        for container in spec["containers"]:
            sources = container["envFrom"]
            assert {"secretRef": {"name": "portal-secrets"}} in sources, name
            assert any(s.get("configMapRef", {}).get("name") == settings["metadata"]["name"] for s in sources)
            assert not any("value" in env for env in container.get("env", [])), name


def test_the_settings_are_productions(rendered):
    overlay, docs = rendered
    data = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert data["DEBUG"] == "0" and data["LOG_FORMAT"] == "json"
    assert data["PROMETHEUS_MULTIPROC_DIR"] == "/var/run/prometheus" and data["METRICS_PORT"] == "9100"
    host = _one(docs, "Ingress", "portal")["spec"]["rules"][0]["host"]
    assert data["ALLOWED_HOSTS"] == host and data["PORTAL_BASE_URL"] == f"https://{host}"


def test_production_scrapes_web_and_workers_with_a_service_monitor():
    docs = render("production")
    monitor = _one(docs, "ServiceMonitor", "portal")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    chosen = set(monitor["spec"]["selector"]["matchExpressions"][0]["values"])
    services = [d for d in docs if d["kind"] == "Service" and d["metadata"]["namespace"] == "portal"
                and d["metadata"]["labels"]["app.kubernetes.io/name"] in chosen]
    assert {s["metadata"]["labels"]["app.kubernetes.io/name"] for s in services} == {"portal-web", "portal-worker"}
    assert all(any(p["name"] == "metrics" for p in s["spec"]["ports"]) for s in services)
    assert not any(d["kind"] == "ServiceMonitor" for d in render("staging"))


def test_the_dockerfile_builds_what_the_manifests_expect():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^EXPOSE 8000$", dockerfile, re.M)
    assert re.search(r"useradd .*--uid 1000 portal", dockerfile) and re.search(r"^USER portal$", dockerfile, re.M)
    assert "PYTHONDONTWRITEBYTECODE=1" in dockerfile  # nothing written next to the code at run time
    assert "VAR_DIR=/app/var" in dockerfile and "collectstatic" in dockerfile
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["x-portal"]["image"].split(":")[0] == IMAGE.rsplit("/", 1)[1]
    base = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    assert base["images"][0]["name"] == IMAGE.rsplit("/", 1)[1]
