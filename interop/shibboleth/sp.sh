#!/usr/bin/env bash
# Debian's Shibboleth SP 3 (shibd + mod_shib in apache2) as a SAML 2.0 service provider
# for interop tests against Tessera. Everything lives under WORKDIR; no systemd, no /etc
# edits, no /var/run sockets. See README.md beside this file.
#
#   sp.sh install
#   sp.sh start    WORKDIR PORT IDP_METADATA_FILE
#   sp.sh metadata WORKDIR [PORT]
#   sp.sh stop     WORKDIR
#   sp.sh logs     WORKDIR
#   sp.sh status   WORKDIR
#
# Environment knobs for `start` (all optional):
#   SHIB_SIGNING=false|front|true|...    sign the AuthnRequest (default false)
#   SHIB_REQUIRE_SIGNED_ASSERTIONS=0|1   refuse responses whose Assertion is unsigned (default 0)
#   SHIB_NAMEID_FORMAT=URI               NameIDFormat in the SP metadata (default persistent)
#   SHIB_LOG_LEVEL=INFO|DEBUG            shibd log level (default INFO)
#   SHIB_START_TIMEOUT=seconds           how long to wait for the SP to answer (default 30)
set -euo pipefail

APACHE_BIN=/usr/sbin/apache2
SHIBD_BIN=/usr/sbin/shibd
MODDIR=/usr/lib/apache2/modules
RUN_USER=www-data
RUN_GROUP=www-data

die() { echo "sp.sh: $*" >&2; exit 1; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }

abspath() { (cd "$1" && pwd -P); }

installed() { [ -x "$APACHE_BIN" ] && [ -x "$SHIBD_BIN" ] && [ -f "$MODDIR/mod_shib.so" ]; }

cmd_install() {
    if installed; then
        echo "apache2 and libapache2-mod-shib already installed"
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "install needs root"
    export DEBIAN_FRONTEND=noninteractive
    # The package lists may be missing on a fresh machine; one update, then install.
    if ! apt-get install -y -qq --no-install-recommends apache2 libapache2-mod-shib >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends apache2 libapache2-mod-shib >/dev/null
    fi
    installed || die "install finished but apache2/shibd/mod_shib.so are missing"
    echo "installed apache2 and libapache2-mod-shib"
}

# Is the process in PIDFILE alive?
pid_alive() {
    local f=$1 pid
    [ -s "$f" ] || return 1
    pid=$(tr -dc '0-9' <"$f")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# Stop the process whose id is in PIDFILE: TERM, wait, then KILL.
stop_pidfile() {
    local f=$1 name=$2 pid i
    [ -s "$f" ] || return 0
    pid=$(tr -dc '0-9' <"$f")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "sp.sh: $name (pid $pid) ignored TERM; sending KILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
        fi
    fi
    rm -f "$f"
}

cmd_stop() {
    [ $# -eq 1 ] || usage
    local w
    [ -d "$1" ] || { echo "nothing to stop: $1 does not exist"; return 0; }
    w=$(abspath "$1")
    # apache first: its children talk to shibd.
    stop_pidfile "$w/run/apache.pid" apache2
    stop_pidfile "$w/run/shibd.pid" shibd
    rm -f "$w/run/shibd.sock"
    echo "stopped SP in $w"
}

cmd_status() {
    [ $# -eq 1 ] || usage
    local w rc=0
    w=$(abspath "$1")
    if pid_alive "$w/run/shibd.pid"; then echo "shibd: running (pid $(cat "$w/run/shibd.pid"))"; else echo "shibd: stopped"; rc=1; fi
    if pid_alive "$w/run/apache.pid"; then echo "apache2: running (pid $(cat "$w/run/apache.pid"))"; else echo "apache2: stopped"; rc=1; fi
    return $rc
}

cmd_logs() {
    [ $# -eq 1 ] || usage
    local w f
    w=$(abspath "$1")
    for f in shibd.log shibd_warn.log transaction.log native.log apache-error.log apache-access.log shibd.stderr; do
        if [ -s "$w/logs/$f" ]; then
            echo "===== $w/logs/$f"
            cat "$w/logs/$f"
        fi
    done
}

cmd_metadata() {
    [ $# -ge 1 ] && [ $# -le 2 ] || usage
    local w port
    w=$(abspath "$1")
    port=${2:-$(cat "$w/port" 2>/dev/null || true)}
    [ -n "$port" ] || die "no PORT given and $w/port is missing"
    curl -fsS "http://127.0.0.1:$port/Shibboleth.sso/Metadata"
}

# The entityID of the single IdP EntityDescriptor in a metadata file.
idp_entity_id() {
    python3 - "$1" <<'PY'
import sys
import xml.etree.ElementTree as ET
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
root = ET.parse(sys.argv[1]).getroot()
if root.tag == "{%s}EntityDescriptor" % MD:
    entities = [root]
else:
    entities = list(root.iter("{%s}EntityDescriptor" % MD))
idps = [e for e in entities if e.find("{%s}IDPSSODescriptor" % MD) is not None]
if len(idps) != 1:
    sys.exit("expected exactly one EntityDescriptor with an IDPSSODescriptor, found %d" % len(idps))
print(idps[0].get("entityID"))
PY
}

# XML attribute escaping for values we interpolate.
xml_attr() { printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'; }

# Attribute ids the SP maps (attribute-map.xml) and the CGI prints.
ATTRIBUTE_IDS="persistent-id nameid-email nameid-unspecified transient-id mail email uid IDPEmail displayName givenName sn cn eppn subject-id"

write_shibboleth2() {
    local w=$1 port=$2 idp=$3 signing=$4 req_signed=$5 nameid_format=$6
    local sp="http://127.0.0.1:$port/shibboleth"
    cat >"$w/shibboleth2.xml" <<EOF
<SPConfig xmlns="urn:mace:shibboleth:3.0:native:sp:config"
    xmlns:conf="urn:mace:shibboleth:3.0:native:sp:config"
    clockSkew="180">

    <!-- Both loggers and the listener socket live under the work directory. -->
    <OutOfProcess logger="$w/shibd.logger"
        tranLogFormat="%u|%s|%IDP|%i|%ac|%t|%attr|%n|%b|%E|%S|%SS|%L|%UA|%a"/>
    <InProcess logger="$w/native.logger"/>
    <UnixListener address="$w/run/shibd.sock"/>

    <!-- In-memory StorageService, ReplayCache and SessionCache (the defaults). -->

    <!-- signing: does the SP sign its AuthnRequest; encryption: does it encrypt what it sends.
         Neither makes the IdP sign or encrypt anything. -->
    <ApplicationDefaults entityID="$(xml_attr "$sp")"
        REMOTE_USER="uid mail email nameid-email persistent-id eppn subject-id nameid-unspecified"
        signing="$signing" encryption="false" requireSignedAssertions="$req_signed">

        <!-- Plain HTTP on 127.0.0.1: handlerSSL and https-only cookies off. -->
        <Sessions lifetime="28800" timeout="3600" relayState="ss:mem"
                  checkAddress="false" handlerSSL="false" cookieProps="http"
                  redirectLimit="exact" handlerURL="/Shibboleth.sso">

            <SSO entityID="$(xml_attr "$idp")">SAML2</SSO>

            <Logout>SAML2 Local</Logout>

            <!-- Metadata for the IdP to import; the NameIDFormat is what Tessera will send. -->
            <Handler type="MetadataGenerator" Location="/Metadata" signing="false">
                <md:NameIDFormat xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">$(xml_attr "$nameid_format")</md:NameIDFormat>
            </Handler>
            <Handler type="Status" Location="/Status" acl="127.0.0.1 ::1"/>
            <Handler type="Session" Location="/Session" showAttributeValues="true"/>
        </Sessions>

        <Errors supportContact="root@localhost" helpLocation="/about.html"
            styleSheet="/shibboleth-sp/main.css"/>

        <!-- The IdP under test: its metadata, copied at start. -->
        <MetadataProvider type="XML" validate="true" path="$w/idp-metadata.xml"/>

        <AttributeExtractor type="XML" validate="true" reloadChanges="false" path="$w/attribute-map.xml"/>
        <AttributeFilter type="XML" validate="true" path="$w/attribute-policy.xml"/>

        <!-- One key pair, published without a use= so it serves signing and encryption. -->
        <CredentialResolver type="File" key="$w/sp-key.pem" certificate="$w/sp-cert.pem"/>
    </ApplicationDefaults>

    <SecurityPolicyProvider type="XML" validate="true" path="$w/security-policy.xml"/>
    <ProtocolProvider type="XML" validate="true" reloadChanges="false" path="$w/protocols.xml"/>
</SPConfig>
EOF
}

write_attribute_map() {
    local w=$1
    {
        cat <<'EOF'
<Attributes xmlns="urn:mace:shibboleth:2.0:attribute-map"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">

    <!-- NameIDs, by Format. persistent-id keeps Shibboleth's usual
         NameQualifier!SPNameQualifier!value form (qualifiers defaulted when absent). -->
    <Attribute name="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" id="persistent-id">
        <AttributeDecoder xsi:type="NameIDAttributeDecoder" formatter="$NameQualifier!$SPNameQualifier!$Name" defaultQualifiers="true"/>
    </Attribute>
    <Attribute name="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" id="nameid-email">
        <AttributeDecoder xsi:type="NameIDAttributeDecoder" formatter="$Name"/>
    </Attribute>
    <Attribute name="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified" id="nameid-unspecified">
        <AttributeDecoder xsi:type="NameIDAttributeDecoder" formatter="$Name"/>
    </Attribute>
    <Attribute name="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" id="transient-id">
        <AttributeDecoder xsi:type="NameIDAttributeDecoder" formatter="$Name"/>
    </Attribute>

    <!-- Attributes by OID name (NameFormat uri). -->
    <Attribute name="urn:oid:0.9.2342.19200300.100.1.3" id="mail"/>
    <Attribute name="urn:oid:0.9.2342.19200300.100.1.1" id="uid"/>
    <Attribute name="urn:oid:2.16.840.1.113730.3.1.241" id="displayName"/>
    <Attribute name="urn:oid:2.5.4.42" id="givenName"/>
    <Attribute name="urn:oid:2.5.4.4" id="sn"/>
    <Attribute name="urn:oid:2.5.4.3" id="cn"/>
    <Attribute name="urn:oid:1.3.6.1.4.1.5923.1.1.1.6" id="eppn">
        <AttributeDecoder xsi:type="ScopedAttributeDecoder" caseSensitive="false"/>
    </Attribute>
    <Attribute name="urn:oasis:names:tc:SAML:attribute:subject-id" id="subject-id">
        <AttributeDecoder xsi:type="ScopedAttributeDecoder" caseSensitive="false"/>
    </Attribute>

    <!-- Plain names. Without nameFormat an entry matches NameFormat uri, unspecified or none;
         NameFormat basic has to be named, hence the second copy of each. -->
EOF
        local n
        for n in mail email uid IDPEmail displayName givenName sn cn; do
            printf '    <Attribute name="%s" id="%s"/>\n' "$n" "$n"
            printf '    <Attribute name="%s" nameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic" id="%s"/>\n' "$n" "$n"
        done
        echo '</Attributes>'
    } >"$w/attribute-map.xml"
}

write_attribute_policy() {
    cat >"$1/attribute-policy.xml" <<'EOF'
<AttributeFilterPolicyGroup xmlns="urn:mace:shibboleth:2.0:afp"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
    <AttributeFilterPolicy>
        <PolicyRequirementRule xsi:type="ANY"/>
        <!-- As in Debian's default: a persistent NameID survives only if its NameQualifier and
             SPNameQualifier (when present) are the IdP's and this SP's entityIDs. -->
        <AttributeRule attributeID="persistent-id">
            <PermitValueRule xsi:type="NameIDQualifierString"/>
        </AttributeRule>
        <!-- Everything else passes. -->
        <AttributeRule attributeID="*" permitAny="true"/>
    </AttributeFilterPolicy>
</AttributeFilterPolicyGroup>
EOF
}

write_protocols() {
    # SAML 2 only: one ACS (HTTP-POST) and front-channel logout.
    cat >"$1/protocols.xml" <<'EOF'
<Protocols xmlns="urn:mace:shibboleth:2.0:native:sp:protocols">
  <Protocol id="SAML2">
    <Service id="SSO">
      <Initiator id="SAML2"/>
      <Binding id="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" path="/SAML2/POST"/>
    </Service>
    <Service id="Logout">
      <Initiator id="SAML2"/>
      <Binding id="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" path="/SLO/Redirect"/>
      <Binding id="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" path="/SLO/POST"/>
    </Service>
  </Protocol>
  <Protocol id="Local">
    <Service id="Logout">
      <Initiator id="Local"/>
    </Service>
  </Protocol>
</Protocols>
EOF
}

write_security_policy() {
    # Debian's default policies: freshness/replay, audience, XML signature; weak algorithms off.
    cat >"$1/security-policy.xml" <<'EOF'
<SecurityPolicies xmlns="urn:mace:shibboleth:3.0:native:sp:config">
    <Policy id="default" validate="false">
        <PolicyRule type="MessageFlow" checkReplay="true" expires="60"/>
        <PolicyRule type="Conditions">
            <PolicyRule type="Audience"/>
        </PolicyRule>
        <PolicyRule type="ClientCertAuth" errorFatal="true"/>
        <PolicyRule type="XMLSigning" errorFatal="true"/>
        <PolicyRule type="SimpleSigning" errorFatal="true"/>
    </Policy>
    <Policy id="blockUnsolicited" validate="false">
        <PolicyRule type="MessageFlow" blockUnsolicited="true" checkReplay="true" expires="60"/>
        <PolicyRule type="Conditions">
            <PolicyRule type="Audience"/>
        </PolicyRule>
        <PolicyRule type="ClientCertAuth" errorFatal="true"/>
        <PolicyRule type="XMLSigning" errorFatal="true"/>
        <PolicyRule type="SimpleSigning" errorFatal="true"/>
        <PolicyRule type="Bearer" blockUnsolicited="true"/>
    </Policy>
    <ExcludedAlgorithms excludeDefaults="true"/>
</SecurityPolicies>
EOF
}

write_loggers() {
    local w=$1 level=$2
    cat >"$w/shibd.logger" <<EOF
log4j.rootCategory=$level, shibd_log, warn_log
log4j.category.XMLTooling.XMLObject=INFO
log4j.category.XMLTooling.XMLObjectBuilder=INFO
log4j.category.XMLTooling.KeyInfoResolver=INFO
log4j.category.Shibboleth.IPRange=INFO
log4j.category.Shibboleth.PropertySet=INFO
log4j.category.XMLTooling.libcurl=INFO
log4j.category.XMLTooling.Signature.Debugger=INFO
log4j.category.Shibboleth-TRANSACTION=INFO, tran_log
log4j.additivity.Shibboleth-TRANSACTION=false
log4j.ownAppenders.Shibboleth-TRANSACTION=true

log4j.appender.shibd_log=org.apache.log4j.FileAppender
log4j.appender.shibd_log.fileName=$w/logs/shibd.log
log4j.appender.shibd_log.layout=org.apache.log4j.PatternLayout
log4j.appender.shibd_log.layout.ConversionPattern=%d{%Y-%m-%d %H:%M:%S} %p %c %x: %m%n

log4j.appender.warn_log=org.apache.log4j.FileAppender
log4j.appender.warn_log.fileName=$w/logs/shibd_warn.log
log4j.appender.warn_log.layout=org.apache.log4j.PatternLayout
log4j.appender.warn_log.layout.ConversionPattern=%d{%Y-%m-%d %H:%M:%S} %p %c %x: %m%n
log4j.appender.warn_log.threshold=WARN

log4j.appender.tran_log=org.apache.log4j.FileAppender
log4j.appender.tran_log.fileName=$w/logs/transaction.log
log4j.appender.tran_log.layout=org.apache.log4j.PatternLayout
log4j.appender.tran_log.layout.ConversionPattern=%d{%Y-%m-%d %H:%M:%S}|%c|%m%n
EOF
    # mod_shib logs from apache's children, which run as $RUN_USER.
    cat >"$w/native.logger" <<EOF
log4j.rootCategory=INFO, native_log
log4j.category.XMLTooling.XMLObject=WARN
log4j.category.XMLTooling.XMLObjectBuilder=WARN
log4j.category.XMLTooling.KeyInfoResolver=WARN
log4j.category.Shibboleth.IPRange=WARN
log4j.category.Shibboleth.PropertySet=WARN

log4j.appender.native_log=org.apache.log4j.FileAppender
log4j.appender.native_log.fileName=$w/logs/native.log
log4j.appender.native_log.layout=org.apache.log4j.PatternLayout
log4j.appender.native_log.layout.ConversionPattern=%d{%Y-%m-%d %H:%M:%S} %p %c %x: %m%n
EOF
}

write_cgi() {
    local w=$1
    {
        echo '#!/bin/sh'
        echo '# Echoes the Shibboleth session as KEY=value lines (multi-valued attributes are ;-joined).'
        echo '# Apache turns non-alphanumerics in variable names into _, so the names are mapped back.'
        echo "printf 'Content-Type: text/plain\\r\\n\\r\\n'"
        echo 'show() { eval "v=\${$2-}"; [ -n "$v" ] && printf "%s=%s\n" "$1" "$v"; return 0; }'
        echo 'show REMOTE_USER REMOTE_USER'
        echo 'show AUTH_TYPE AUTH_TYPE'
        local v
        for v in Shib-Session-ID Shib-Session-Index Shib-Session-Expires Shib-Session-Inactivity \
                 Shib-Identity-Provider Shib-Authentication-Method Shib-Authentication-Instant \
                 Shib-AuthnContext-Class Shib-AuthnContext-Decl Shib-Application-ID; do
            echo "show $v ${v//-/_}"
        done
        for v in $ATTRIBUTE_IDS; do
            echo "show $v ${v//-/_}"
        done
        echo 'show PATH_INFO PATH_INFO'
        echo 'show QUERY_STRING QUERY_STRING'
    } >"$w/cgi-bin/secure.cgi"
    chmod 0755 "$w/cgi-bin/secure.cgi"
}

write_apache_conf() {
    local w=$1 port=$2
    cat >"$w/apache.conf" <<EOF
# Self-contained apache2 for the Shibboleth SP; started with: apache2 -f $w/apache.conf -k start
ServerRoot "$w"
PidFile "$w/run/apache.pid"
DefaultRuntimeDir "$w/run"
Mutex file:$w/run default
ErrorLog "$w/logs/apache-error.log"
LogLevel warn
Listen 127.0.0.1:$port
ServerName http://127.0.0.1:$port
UseCanonicalName On
User $RUN_USER
Group $RUN_GROUP
Timeout 30
KeepAlive On

LoadModule mpm_prefork_module $MODDIR/mod_mpm_prefork.so
LoadModule authn_core_module $MODDIR/mod_authn_core.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
LoadModule alias_module $MODDIR/mod_alias.so
LoadModule cgi_module $MODDIR/mod_cgi.so
LoadModule mod_shib $MODDIR/mod_shib.so

StartServers 2
MinSpareServers 1
MaxSpareServers 4
MaxRequestWorkers 16

LogFormat "%h %l %u %t \"%r\" %>s %b" common
CustomLog "$w/logs/apache-access.log" common

ShibConfig $w/shibboleth2.xml
ShibCompatValidUser Off

DocumentRoot "$w/htdocs"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "$w/htdocs">
    Require all granted
</Directory>

<Location /Shibboleth.sso>
    AuthType None
    Require all granted
</Location>

Alias /shibboleth-sp/main.css /usr/share/shibboleth/main.css
<Location /shibboleth-sp>
    AuthType None
    Require all granted
</Location>
<Directory /usr/share/shibboleth>
    Require all granted
</Directory>

# The protected resource: any path under /secure/ runs the echo CGI.
ScriptAliasMatch "^/secure(/.*)?\$" "$w/cgi-bin/secure.cgi\$1"
<Directory "$w/cgi-bin">
    Options +ExecCGI
    Require all granted
</Directory>
<Location /secure>
    AuthType shibboleth
    ShibRequestSetting requireSession 1
    Require shib-session
</Location>
EOF
}

cmd_start() {
    [ $# -eq 3 ] || usage
    local wdir=$1 port=$2 idp_md=$3
    installed || die "apache2/libapache2-mod-shib not installed: run '$0 install'"
    [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -gt 0 ] && [ "$port" -lt 65536 ] || die "bad PORT: $port"
    [ -f "$idp_md" ] || die "no such IdP metadata file: $idp_md"

    mkdir -p "$wdir"
    local w
    w=$(abspath "$wdir")
    # sockaddr_un holds 107 bytes.
    [ ${#w} -le 90 ] || die "WORKDIR path too long for shibd's unix socket (${#w} > 90 chars): $w"
    # Apache's children run as $RUN_USER and must reach the socket, the CGI and native.log.
    if ! runuser -u "$RUN_USER" -- test -x "$w" 2>/dev/null; then
        chmod 0755 "$w"
        runuser -u "$RUN_USER" -- test -x "$w" ||
            die "$RUN_USER cannot reach $w (a parent directory is not world-searchable); use a WORKDIR under /tmp"
    fi

    # Idempotent: a previous SP in this WORKDIR is stopped first.
    cmd_stop "$w" >/dev/null

    local idp
    idp=$(idp_entity_id "$idp_md") || die "cannot read the IdP entityID from $idp_md"
    [ -n "$idp" ] || die "IdP EntityDescriptor in $idp_md has no entityID"

    local signing=${SHIB_SIGNING:-false}
    local req_signed=false
    [ "${SHIB_REQUIRE_SIGNED_ASSERTIONS:-0}" = 1 ] && req_signed=true
    local level=${SHIB_LOG_LEVEL:-INFO}
    local nameid_format=${SHIB_NAMEID_FORMAT:-urn:oasis:names:tc:SAML:2.0:nameid-format:persistent}

    mkdir -p "$w/run" "$w/logs" "$w/htdocs" "$w/cgi-bin"
    chmod 0755 "$w/run" "$w/htdocs" "$w/cgi-bin"
    cp "$idp_md" "$w/idp-metadata.xml"
    echo "$port" >"$w/port"
    echo "$idp" >"$w/idp-entity-id"
    echo "http://127.0.0.1:$port/shibboleth" >"$w/sp-entity-id"

    # SP key pair, kept across restarts so registered metadata stays valid.
    if [ ! -s "$w/sp-key.pem" ] || [ ! -s "$w/sp-cert.pem" ]; then
        openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 3650 \
            -subj "/CN=127.0.0.1" -keyout "$w/sp-key.pem" -out "$w/sp-cert.pem" >/dev/null 2>&1 ||
            die "openssl could not make the SP key pair"
    fi
    chmod 0600 "$w/sp-key.pem"

    write_shibboleth2 "$w" "$port" "$idp" "$signing" "$req_signed" "$nameid_format"
    write_attribute_map "$w"
    write_attribute_policy "$w"
    write_protocols "$w"
    write_security_policy "$w"
    write_loggers "$w" "$level"
    write_cgi "$w"
    write_apache_conf "$w" "$port"
    echo '<html><body>Tessera interop SP; see /secure/</body></html>' >"$w/htdocs/index.html"
    touch "$w/logs/native.log"
    chown "$RUN_USER:$RUN_GROUP" "$w/logs/native.log"
    chmod 0755 "$w/logs"

    # shibd: checks the configuration, then daemonises and writes its pid file.
    "$SHIBD_BIN" -t -c "$w/shibboleth2.xml" >"$w/logs/shibd-check.log" 2>&1 || {
        cat "$w/logs/shibd-check.log" >&2
        die "shibd -t rejected $w/shibboleth2.xml"
    }
    "$SHIBD_BIN" -f -c "$w/shibboleth2.xml" -p "$w/run/shibd.pid" -w 30 >"$w/logs/shibd.stderr" 2>&1 || {
        cmd_logs "$w" >&2
        die "shibd did not start"
    }
    local i
    for i in $(seq 1 100); do
        [ -S "$w/run/shibd.sock" ] && break
        sleep 0.1
    done
    [ -S "$w/run/shibd.sock" ] || { cmd_logs "$w" >&2; cmd_stop "$w" >/dev/null; die "shibd made no socket"; }
    # Apache's children (www-data) connect to it.
    chmod 0777 "$w/run/shibd.sock"

    "$APACHE_BIN" -t -f "$w/apache.conf" >"$w/logs/apache-check.log" 2>&1 || {
        cat "$w/logs/apache-check.log" >&2
        cmd_stop "$w" >/dev/null
        die "apache2 -t rejected $w/apache.conf"
    }
    "$APACHE_BIN" -f "$w/apache.conf" -k start || { cmd_logs "$w" >&2; cmd_stop "$w" >/dev/null; die "apache2 did not start"; }

    local timeout=${SHIB_START_TIMEOUT:-30} code=""
    for i in $(seq 1 $((timeout * 5))); do
        code=$(curl -s -o "$w/logs/status.xml" -w '%{http_code}' "http://127.0.0.1:$port/Shibboleth.sso/Status" || true)
        [ "$code" = 200 ] && break
        sleep 0.2
    done
    if [ "$code" != 200 ]; then
        cmd_logs "$w" >&2
        cmd_stop "$w" >/dev/null
        die "SP did not answer on http://127.0.0.1:$port/Shibboleth.sso/Status (last code: ${code:-none})"
    fi
    echo "SP http://127.0.0.1:$port/shibboleth up (IdP $idp); ACS http://127.0.0.1:$port/Shibboleth.sso/SAML2/POST; protected http://127.0.0.1:$port/secure/"
}

main() {
    [ $# -ge 1 ] || usage
    local cmd=$1
    shift
    case "$cmd" in
        install) cmd_install "$@" ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        metadata) cmd_metadata "$@" ;;
        logs) cmd_logs "$@" ;;
        status) cmd_status "$@" ;;
        -h | --help | help) usage ;;
        *) usage ;;
    esac
}

main "$@"
