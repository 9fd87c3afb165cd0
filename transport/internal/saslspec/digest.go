package saslspec

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// DigestChallenge is RFC 2831 §2.1.1's digest-challenge for qop=auth.
func DigestChallenge(realm, nonce string) []byte {
	s := fmt.Sprintf(`nonce="%s",qop="auth",charset=utf-8,algorithm=md5-sess`, nonce)
	if realm != "" {
		s = fmt.Sprintf(`realm="%s",`, realm) + s
	}
	return []byte(s)
}

// parse reads name=value pairs; values may be quoted with \-escapes.
func parse(s string) map[string]string {
	m := map[string]string{}
	for len(s) > 0 {
		s = strings.TrimLeft(s, " ,")
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			break
		}
		name := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = s[eq+1:]
		var v strings.Builder
		if strings.HasPrefix(s, `"`) {
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
				v.WriteByte(s[i])
			}
			s = s[min(i+1, len(s)):]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			v.WriteString(s[:end])
			s = s[end:]
		}
		m[name] = v.String()
	}
	return m
}

// DigestCheck verifies a digest-response (RFC 2831 §2.1.2) to a challenge
// with the given nonce, for service/host, with the user's password, and
// returns the response-auth the server sends back (§2.1.3): "rspauth=...".
// It returns the user name too.
func DigestCheck(resp []byte, nonce, serviceHost string, password func(user, realm string) string) (user, rspauth string, err error) {
	d := parse(string(resp))
	if d["nonce"] != nonce {
		return "", "", errors.New("wrong nonce")
	}
	if d["nc"] != "00000001" {
		return "", "", errors.New("wrong nc")
	}
	if q := d["qop"]; q != "" && q != "auth" {
		return "", "", errors.New("qop is not auth")
	}
	if d["digest-uri"] != serviceHost {
		return "", "", fmt.Errorf("digest-uri %q, want %q", d["digest-uri"], serviceHost)
	}
	if d["cnonce"] == "" {
		return "", "", errors.New("no cnonce")
	}
	user = d["username"]
	hx := func(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
	inner := md5.Sum([]byte(user + ":" + d["realm"] + ":" + password(user, d["realm"])))
	a1 := string(inner[:]) + ":" + nonce + ":" + d["cnonce"]
	if d["authzid"] != "" {
		a1 += ":" + d["authzid"]
	}
	kd := func(a2 string) string {
		return hx(hx(a1) + ":" + nonce + ":00000001:" + d["cnonce"] + ":auth:" + hx(a2))
	}
	if d["response"] != kd("AUTHENTICATE:"+serviceHost) {
		return user, "", errors.New("wrong response")
	}
	return user, "rspauth=" + kd(":"+serviceHost), nil
}
