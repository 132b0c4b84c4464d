package notify

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/kassa-pay/kassa"
)

// Guard decides which addresses notifications may be sent to. A merchant
// chooses the URL, so without it the gateway could be made to POST into
// the operator's own network (databases, admin consoles, the cloud
// metadata service that hands out credentials).
type Guard struct {
	// AllowPrivate permits loopback, private, link-local and other
	// non-public addresses (KASSA_WEBHOOK_ALLOW_PRIVATE=true). Cloud
	// metadata addresses stay refused even then.
	AllowPrivate bool
}

// metadata are cloud instance-metadata services: AWS/GCP/Azure/OpenStack
// (169.254.169.254), AWS over IPv6, Alibaba, Oracle's legacy address.
var metadata = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"),
	netip.MustParseAddr("192.0.0.192"),
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network"; 0.0.0.0 reaches the local host
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT, often internal
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// Check returns an error if ip may not receive notifications.
func (g Guard) Check(ip netip.Addr) error {
	ip = ip.Unmap()
	for _, m := range metadata {
		if ip == m {
			return fmt.Errorf("address %s is a cloud metadata service", ip)
		}
	}
	if g.AllowPrivate {
		return nil
	}
	bad := ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() || !ip.IsValid()
	for _, p := range nonPublic {
		bad = bad || p.Contains(ip)
	}
	// IPv4 embedded in NAT64 (64:ff9b::/96) reaches the IPv4 address.
	if ip.Is6() && netip.MustParsePrefix("64:ff9b::/96").Contains(ip) {
		a := ip.As16()
		if err := g.Check(netip.AddrFrom4([4]byte{a[12], a[13], a[14], a[15]})); err != nil {
			return err
		}
	}
	if bad {
		return fmt.Errorf("address %s is loopback, private, link-local or reserved", ip)
	}
	return nil
}

// control is a net.Dialer Control function: it runs after DNS resolution,
// on the address actually being connected to, so a name that resolves to
// a public address when the URL is checked and to an internal one when the
// request is sent (DNS rebinding) is still refused.
func (g Guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("notify: unexpected dial address %q", address)
	}
	if err := g.Check(ap.Addr()); err != nil {
		return &refusedError{err}
	}
	return nil
}

type refusedError struct{ err error }

func (e *refusedError) Error() string { return "destination refused: " + e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// Dialer returns a dialer that refuses addresses the guard forbids.
func (g Guard) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: g.control}
}

// ValidateURL checks a destination URL when it is registered: absolute
// http or https, no credentials, and, where the host resolves, no
// forbidden address. Delivery checks the address again on every connection.
func (g Guard) ValidateURL(ctx context.Context, param, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return kassa.Invalid(param, "url_invalid", "%s must be an absolute http:// or https:// URL", param)
	}
	if len(raw) > 2048 {
		return kassa.Invalid(param, "url_invalid", "%s is longer than 2048 characters", param)
	}
	if u.User != nil {
		return kassa.Invalid(param, "url_invalid", "%s must not contain credentials", param)
	}
	if u.Fragment != "" {
		return kassa.Invalid(param, "url_invalid", "%s must not contain a fragment", param)
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
			addrs = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
		} else {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			addrs, _ = net.DefaultResolver.LookupNetIP(rctx, "ip", host)
			cancel()
			// A name that does not resolve now may later; delivery checks it then.
		}
	}
	for _, ip := range addrs {
		if err := g.Check(ip); err != nil {
			return kassa.Invalid(param, "url_forbidden", "%s: %v; notifications go only to public addresses", param, err)
		}
	}
	return nil
}
