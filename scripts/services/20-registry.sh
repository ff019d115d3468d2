# A real OCI/Docker v2 registry (Debian's docker-registry) on 127.0.0.1:5000,
# used by the OCI and Docker runtime tests.
apt_install docker-registry curl
FERRY_REGISTRY=127.0.0.1:5000
export FERRY_REGISTRY
if ! curl -fsS "http://$FERRY_REGISTRY/v2/" >/dev/null 2>&1; then
    mkdir -p /var/lib/ferry-test-registry /etc/ferry-test
    cat > /etc/ferry-test/registry.yml <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: /var/lib/ferry-test-registry}
  delete: {enabled: true}
http:
  addr: $FERRY_REGISTRY
YAML
    nohup docker-registry serve /etc/ferry-test/registry.yml >/var/log/ferry-test-registry.log 2>&1 &
    wait_for "the registry on $FERRY_REGISTRY" 30 curl -fsS "http://$FERRY_REGISTRY/v2/"
fi
