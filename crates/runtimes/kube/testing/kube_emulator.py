#!/usr/bin/env python3
"""A small stateful Kubernetes API emulator for Ferry's tests (real HTTP, no cluster).

It stores objects in memory and serves what Ferry's Kubernetes runtime uses:
create (with generateName), get, list and watch (label and field selectors,
resourceVersions, watch from a resourceVersion), JSON merge patch (also on
/status), delete and deletecollection (foreground / background propagation
through ownerReferences), pod logs (follow, timestamps, tailLines) and
pods/portforward over WebSocket (v4.channel.k8s.io framing).

It has no controllers and no kubelet: the test plays them by creating pods and
patching Job and Pod status. Test-only endpoints under /emulator/:
  POST /emulator/logs/{ns}/{pod}          body: lines to append to the pod's log
  POST /emulator/logs/{ns}/{pod}/close    the container ended: followers get EOF
  POST /emulator/ports/{ns}/{pod}         {"8888": "127.0.0.1:12345"}: where the pod's port is
  GET  /emulator/requests                 every API request seen (method, path, query, body)

Why not kmock's KubernetesEmulator: it has no generateName, resourceVersions,
label/field selectors, propagation, logs or port-forward, which are exactly the
paths under test.

Usage: kube_emulator.py [--port N]   (prints "listening on PORT" once ready)
"""

import argparse
import asyncio
import copy
import datetime
import json
import random
import re
import string
import sys
import uuid

from aiohttp import web, WSMsgType

RESOURCES = {
    # (group path, plural): (kind, namespaced)
    ("api/v1", "pods"): ("Pod", True),
    ("api/v1", "services"): ("Service", True),
    ("api/v1", "nodes"): ("Node", False),
    ("api/v1", "namespaces"): ("Namespace", False),
    ("apis/batch/v1", "jobs"): ("Job", True),
    ("apis/apps/v1", "deployments"): ("Deployment", True),
}

PATH = re.compile(
    r"^/(?P<gv>api/v1|apis/[^/]+/[^/]+)"
    r"(?:/namespaces/(?P<ns>[^/]+))?"
    r"/(?P<plural>[^/]+)"
    r"(?:/(?P<name>[^/]+))?"
    r"(?:/(?P<sub>[^/]+))?$"
)


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def status(code, reason, message):
    return web.json_response(
        {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
         "code": code, "reason": reason, "message": message},
        status=code,
    )


def label_match(obj, selector):
    if not selector:
        return True
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in selector.split(","):
        term = term.strip()
        if not term:
            continue
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            k = k.rstrip("=")
            if labels.get(k) != v.lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def field_match(obj, selector):
    if not selector:
        return True
    meta = obj.get("metadata", {})
    for term in selector.split(","):
        k, v = term.split("=", 1)
        v = v.lstrip("=")
        if k == "metadata.name" and meta.get("name") != v:
            return False
        if k == "metadata.namespace" and meta.get("namespace") != v:
            return False
    return True


class Emulator:
    def __init__(self):
        self.objects = {}  # (gv, plural, ns, name) -> obj
        self.rv = 0
        self.events = []  # (rv, gv, plural, type, obj)
        self.changed = asyncio.Condition()
        self.logs = {}  # (ns, pod) -> {"lines": [(ts, bytes)], "closed": bool}
        self.logs_changed = asyncio.Condition()
        self.ports = {}  # (ns, pod) -> {port: "host:port"}
        self.requests = []

    def next_rv(self):
        self.rv += 1
        return str(self.rv)

    async def emit(self, gv, plural, type_, obj):
        self.events.append((self.rv, gv, plural, type_, copy.deepcopy(obj)))
        async with self.changed:
            self.changed.notify_all()

    # ---- API ----

    async def handle(self, request):
        body = await request.read()
        self.requests.append({
            "method": request.method, "path": request.path,
            "query": dict(request.query), "body": body.decode("utf-8", "replace"),
        })
        discovery = self.discovery(request.path)
        if discovery is not None:
            return web.json_response(discovery)
        m = PATH.match(request.path)
        if not m:
            return status(404, "NotFound", f"no route {request.path}")
        gv, ns, plural, name, sub = m.group("gv", "ns", "plural", "name", "sub")
        if (gv, plural) not in RESOURCES:
            return status(404, "NotFound", f"the server could not find the requested resource {gv}/{plural}")
        if sub == "log":
            return await self.serve_log(request, ns, name)
        if sub == "portforward":
            return await self.serve_portforward(request, ns, name)
        if sub not in (None, "status"):
            return status(404, "NotFound", f"unknown subresource {sub}")
        q = request.query
        if name is None:
            if request.method == "GET" and q.get("watch") in ("true", "1"):
                return await self.serve_watch(request, gv, plural, ns)
            if request.method == "GET":
                return self.serve_list(gv, plural, ns, q)
            if request.method == "POST":
                return await self.create(gv, plural, ns, json.loads(body))
            if request.method == "DELETE":
                return await self.delete_collection(gv, plural, ns, q, body)
        else:
            key = (gv, plural, ns, name)
            if request.method == "GET":
                obj = self.objects.get(key)
                if obj is None:
                    return status(404, "NotFound", f'{plural} "{name}" not found')
                return web.json_response(obj)
            if request.method == "PATCH":
                return await self.patch(key, json.loads(body))
            if request.method == "PUT":
                return await self.replace(key, json.loads(body))
            if request.method == "DELETE":
                return await self.delete(key, body)
        return status(405, "MethodNotAllowed", f"{request.method} {request.path}")

    def discovery(self, path):
        """API discovery documents (kubectl needs them; Ferry's typed client does not)."""
        if path == "/version":
            return {"major": "1", "minor": "34", "gitVersion": "v1.34.0-ferry-emulator"}
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        groups = sorted({gv[len("apis/"):] for gv, _ in RESOURCES if gv != "api/v1"})
        if path == "/apis":
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g.split("/")[0], "versions": [{"groupVersion": g, "version": g.split("/")[1]}],
                 "preferredVersion": {"groupVersion": g, "version": g.split("/")[1]}} for g in groups]}
        gv = path.lstrip("/")
        if any(g == gv for g, _ in RESOURCES):
            return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": self.api_version(gv), "resources": [
                {"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                 "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]}
                for (g, plural), (kind, namespaced) in RESOURCES.items() if g == gv]}
        return None

    def kind_of(self, gv, plural):
        return RESOURCES[(gv, plural)][0]

    def api_version(self, gv):
        return "v1" if gv == "api/v1" else gv[len("apis/"):]

    def serve_list(self, gv, plural, ns, q):
        items = [
            o for (g, p, n, _), o in sorted(self.objects.items())
            if g == gv and p == plural and (ns is None or n == ns)
            and label_match(o, q.get("labelSelector")) and field_match(o, q.get("fieldSelector"))
        ]
        return web.json_response({
            "apiVersion": self.api_version(gv), "kind": self.kind_of(gv, plural) + "List",
            "metadata": {"resourceVersion": str(self.rv)}, "items": items,
        })

    async def serve_watch(self, request, gv, plural, ns):
        q = request.query
        timeout = float(q.get("timeoutSeconds", "300"))
        since = q.get("resourceVersion", "")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)

        def wanted(obj):
            meta = obj.get("metadata", {})
            return ((ns is None or meta.get("namespace") == ns)
                    and label_match(obj, q.get("labelSelector")) and field_match(obj, q.get("fieldSelector")))

        async def send(type_, obj):
            await resp.write(json.dumps({"type": type_, "object": obj}).encode() + b"\n")

        if since in ("", "0"):
            pos = len(self.events)
            for (g, p, n, _), o in sorted(self.objects.items()):
                if g == gv and p == plural and wanted(o):
                    await send("ADDED", o)
        else:
            since_rv = int(since)
            pos = next((i for i, e in enumerate(self.events) if e[0] > since_rv), len(self.events))
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            while True:
                while pos < len(self.events):
                    _, g, p, type_, o = self.events[pos]
                    pos += 1
                    if g == gv and p == plural and wanted(o):
                        await send(type_, o)
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                async with self.changed:
                    try:
                        await asyncio.wait_for(self.changed.wait_for(lambda: pos < len(self.events)), left)
                    except asyncio.TimeoutError:
                        break
        except (ConnectionResetError, asyncio.CancelledError):
            return resp
        await resp.write_eof()
        return resp

    async def create(self, gv, plural, ns, obj):
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                return status(422, "Invalid", "metadata.name or metadata.generateName is required")
            meta["name"] = prefix + "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(5))
        if RESOURCES[(gv, plural)][1]:
            meta["namespace"] = ns or meta.get("namespace") or "default"
        key = (gv, plural, meta.get("namespace"), meta["name"])
        if key in self.objects:
            return status(409, "AlreadyExists", f'{plural} "{meta["name"]}" already exists')
        obj["apiVersion"] = self.api_version(gv)
        obj["kind"] = self.kind_of(gv, plural)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = meta.get("creationTimestamp") or now()
        meta["resourceVersion"] = self.next_rv()
        self.objects[key] = obj
        await self.emit(gv, plural, "ADDED", obj)
        return web.json_response(obj, status=201)

    async def patch(self, key, patch):
        obj = self.objects.get(key)
        if obj is None:
            return status(404, "NotFound", f'{key[1]} "{key[3]}" not found')
        new = merge_patch(obj, patch)
        new["metadata"]["resourceVersion"] = self.next_rv()
        self.objects[key] = new
        await self.emit(key[0], key[1], "MODIFIED", new)
        return web.json_response(new)

    async def replace(self, key, obj):
        if key not in self.objects:
            return status(404, "NotFound", f'{key[1]} "{key[3]}" not found')
        obj["metadata"]["resourceVersion"] = self.next_rv()
        self.objects[key] = obj
        await self.emit(key[0], key[1], "MODIFIED", obj)
        return web.json_response(obj)

    def dependents(self, uid):
        return [k for k, o in self.objects.items()
                if any(r.get("uid") == uid for r in o.get("metadata", {}).get("ownerReferences") or [])]

    async def remove(self, key, policy):
        obj = self.objects.get(key)
        if obj is None:
            return None
        uid = obj["metadata"]["uid"]
        if policy == "Foreground":
            # Owner first marked, dependents go, then the owner (as the garbage collector does).
            obj["metadata"]["deletionTimestamp"] = now()
            obj["metadata"]["finalizers"] = ["foregroundDeletion"]
            obj["metadata"]["resourceVersion"] = self.next_rv()
            await self.emit(key[0], key[1], "MODIFIED", obj)
            for d in self.dependents(uid):
                await self.remove(d, "Foreground")
        self.objects.pop(key, None)
        self.next_rv()
        await self.emit(key[0], key[1], "DELETED", obj)
        if policy == "Background":
            for d in self.dependents(uid):
                await self.remove(d, "Background")
        return obj

    async def delete(self, key, body):
        opts = json.loads(body) if body else {}
        policy = opts.get("propagationPolicy") or ("Background" if key[1] != "jobs" else "Orphan")
        obj = await self.remove(key, policy)
        if obj is None:
            return status(404, "NotFound", f'{key[1]} "{key[3]}" not found')
        return web.json_response(obj)

    async def delete_collection(self, gv, plural, ns, q, body):
        opts = json.loads(body) if body else {}
        policy = opts.get("propagationPolicy") or "Background"
        keys = [k for k, o in self.objects.items()
                if k[0] == gv and k[1] == plural and (ns is None or k[2] == ns)
                and label_match(o, q.get("labelSelector")) and field_match(o, q.get("fieldSelector"))]
        items = []
        for k in keys:
            o = await self.remove(k, policy)
            if o is not None:
                items.append(o)
        return web.json_response({"apiVersion": self.api_version(gv), "kind": self.kind_of(gv, plural) + "List",
                                  "metadata": {"resourceVersion": str(self.rv)}, "items": items})

    # ---- pods/log ----

    async def serve_log(self, request, ns, pod):
        if ("api/v1", "pods", ns, pod) not in self.objects:
            return status(404, "NotFound", f'pods "{pod}" not found')
        q = request.query
        follow = q.get("follow") in ("true", "1")
        timestamps = q.get("timestamps") in ("true", "1")
        tail = int(q["tailLines"]) if "tailLines" in q else None
        log = self.logs.setdefault((ns, pod), {"lines": [], "closed": False})
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        pos = max(0, len(log["lines"]) - tail) if tail is not None else 0

        async def flush():
            nonlocal pos
            while pos < len(log["lines"]):
                ts, line = log["lines"][pos]
                pos += 1
                await resp.write((ts.encode() + b" " if timestamps else b"") + line)

        await flush()
        while follow and not log["closed"]:
            async with self.logs_changed:
                await self.logs_changed.wait_for(lambda: pos < len(log["lines"]) or log["closed"])
            await flush()
        await flush()
        await resp.write_eof()
        return resp

    async def append_log(self, request):
        ns, pod = request.match_info["ns"], request.match_info["pod"]
        log = self.logs.setdefault((ns, pod), {"lines": [], "closed": False})
        data = await request.read()
        for line in data.splitlines(keepends=True):
            ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            log["lines"].append((ts, line))
        async with self.logs_changed:
            self.logs_changed.notify_all()
        return web.json_response({"lines": len(log["lines"])})

    async def close_log(self, request):
        ns, pod = request.match_info["ns"], request.match_info["pod"]
        self.logs.setdefault((ns, pod), {"lines": [], "closed": False})["closed"] = True
        async with self.logs_changed:
            self.logs_changed.notify_all()
        return web.json_response({})

    # ---- pods/portforward ----

    async def set_ports(self, request):
        ns, pod = request.match_info["ns"], request.match_info["pod"]
        self.ports[(ns, pod)] = {int(k): v for k, v in (await request.json()).items()}
        return web.json_response({})

    async def serve_portforward(self, request, ns, pod):
        if ("api/v1", "pods", ns, pod) not in self.objects:
            return status(404, "NotFound", f'pods "{pod}" not found')
        port = int(request.query.get("ports", "0").split(",")[0])
        addr = self.ports.get((ns, pod), {}).get(port)
        ws = web.WebSocketResponse(protocols=("v4.channel.k8s.io",))
        await ws.prepare(request)
        le = port.to_bytes(2, "little")
        await ws.send_bytes(b"\x00" + le)
        await ws.send_bytes(b"\x01" + le)
        if addr is None:
            await ws.send_bytes(b"\x01" + f"pod {pod} does not listen on port {port}".encode())
            await ws.close()
            return ws
        host, p = addr.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(p))

        async def from_pod():
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                await ws.send_bytes(b"\x00" + data)
            await ws.close()

        task = asyncio.create_task(from_pod())
        async for msg in ws:
            if msg.type == WSMsgType.BINARY and len(msg.data) > 1 and msg.data[0] == 0:
                writer.write(msg.data[1:])
                await writer.drain()
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        try:
            writer.write_eof()
        except OSError:
            pass
        try:
            await asyncio.wait_for(task, 5)
        except (asyncio.TimeoutError, ConnectionResetError):
            task.cancel()
        writer.close()
        return ws

    async def list_requests(self, request):
        return web.json_response(self.requests)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    emu = Emulator()
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/emulator/logs/{ns}/{pod}", emu.append_log)
    app.router.add_post("/emulator/logs/{ns}/{pod}/close", emu.close_log)
    app.router.add_post("/emulator/ports/{ns}/{pod}", emu.set_ports)
    app.router.add_get("/emulator/requests", emu.list_requests)
    app.router.add_route("*", "/{tail:.*}", emu.handle)

    async def run():
        runner = web.AppRunner(app, handle_signals=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port)
        await site.start()
        port = runner.addresses[0][1]
        print(f"listening on {port}", flush=True)
        # Exit when the test that started us goes away (stdin closes).
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)
        await runner.cleanup()

    asyncio.run(run())


if __name__ == "__main__":
    main()
