package saslspec

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
)

// UTF16LE encodes s as MS-NLMP's UNICODE strings.
func UTF16LE(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

func fromUTF16LE(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// NTOWFv2 is MS-NLMP §3.3.2's NTOWFv2(Passwd, User, UserDom) =
// HMAC_MD5(MD4(UNICODE(Passwd)), UNICODE(Uppercase(User) || UserDom)).
func NTOWFv2(passwd, user, userDom string) []byte {
	h := MD4(UTF16LE(passwd))
	return hmacMD5(h[:], UTF16LE(strings.ToUpper(user)+userDom))
}

// NTProofStr is HMAC_MD5(ResponseKeyNT, ServerChallenge || temp) of
// MS-NLMP §3.3.2, where temp is the NTLMv2_CLIENT_CHALLENGE structure.
func NTProofStr(responseKeyNT, serverChallenge, temp []byte) []byte {
	return hmacMD5(responseKeyNT, serverChallenge, temp)
}

// LMv2Response is MS-NLMP §3.3.2's LmChallengeResponse:
// HMAC_MD5(ResponseKeyLM, ServerChallenge || ClientChallenge) || ClientChallenge.
func LMv2Response(responseKeyLM, serverChallenge, clientChallenge []byte) []byte {
	return append(hmacMD5(responseKeyLM, serverChallenge, clientChallenge), clientChallenge...)
}

// Temp builds MS-NLMP §3.3.2's temp: Responserversion (1), HiResponserversion
// (1), Z(6), Time, ClientChallenge, Z(4), ServerName (the AV pairs), Z(4).
func Temp(time, clientChallenge, avPairs []byte) []byte {
	t := []byte{1, 1, 0, 0, 0, 0, 0, 0}
	t = append(t, time...)
	t = append(t, clientChallenge...)
	t = append(t, 0, 0, 0, 0)
	t = append(t, avPairs...)
	return append(t, 0, 0, 0, 0)
}

// AVPairs encodes MS-NLMP §2.2.2.1 AV_PAIRs (id, UNICODE value), ending with
// MsvAvEOL.
func AVPairs(pairs ...any) []byte {
	var b []byte
	for i := 0; i+1 < len(pairs); i += 2 {
		id := pairs[i].(int)
		var v []byte
		switch x := pairs[i+1].(type) {
		case string:
			v = UTF16LE(x)
		case []byte:
			v = x
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(id))
		b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
	}
	return append(b, 0, 0, 0, 0)
}

// AV pair identifiers (MS-NLMP §2.2.2.1).
const (
	MsvAvNbComputerName = 1
	MsvAvNbDomainName   = 2
	MsvAvTimestamp      = 7
)

// Negotiate flags used by ChallengeMessage (MS-NLMP §2.2.2.5).
const (
	flagUnicode        = 0x00000001
	flagRequestTarget  = 0x00000004
	flagNTLM           = 0x00000200
	flagAlwaysSign     = 0x00008000
	flagTargetTypeDom  = 0x00010000
	flagExtendedSecure = 0x00080000
	flagTargetInfo     = 0x00800000
)

// ChallengeMessage builds a CHALLENGE_MESSAGE (MS-NLMP §2.2.1.2) with the
// server challenge, target name and target info (AV pairs).
func ChallengeMessage(serverChallenge []byte, target string, targetInfo []byte) []byte {
	tn := UTF16LE(target)
	const head = 48
	var b []byte
	b = append(b, "NTLMSSP\x00"...)
	b = binary.LittleEndian.AppendUint32(b, 2)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(tn)))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(tn)))
	b = binary.LittleEndian.AppendUint32(b, head)
	b = binary.LittleEndian.AppendUint32(b, flagUnicode|flagRequestTarget|flagNTLM|flagAlwaysSign|flagTargetTypeDom|flagExtendedSecure|flagTargetInfo)
	b = append(b, serverChallenge...)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // Reserved
	b = binary.LittleEndian.AppendUint16(b, uint16(len(targetInfo)))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(targetInfo)))
	b = binary.LittleEndian.AppendUint32(b, uint32(head+len(tn)))
	b = append(b, tn...)
	return append(b, targetInfo...)
}

// Authenticate is what VerifyAuthenticate read from an AUTHENTICATE_MESSAGE.
type Authenticate struct {
	Domain, User, Workstation string
}

func field(msg []byte, off int) ([]byte, error) {
	if len(msg) < off+8 {
		return nil, errors.New("message too short")
	}
	n := int(binary.LittleEndian.Uint16(msg[off:]))
	at := int(binary.LittleEndian.Uint32(msg[off+4:]))
	if at+n > len(msg) {
		return nil, fmt.Errorf("field at %d out of bounds", off)
	}
	return msg[at : at+n], nil
}

// VerifyAuthenticate checks an AUTHENTICATE_MESSAGE (MS-NLMP §2.2.1.3) as a
// server does (§3.2.5.1.2): it reads the user and domain, computes
// NTOWFv2 with password(user, domain), and compares the NTProofStr with
// the one computed over the temp the client sent. It also checks that the
// temp carries the AV pairs of the challenge.
func VerifyAuthenticate(msg, serverChallenge, targetInfo []byte, password func(user, domain string) string) (Authenticate, error) {
	var a Authenticate
	if len(msg) < 64 || !bytes.Equal(msg[:8], []byte("NTLMSSP\x00")) || binary.LittleEndian.Uint32(msg[8:]) != 3 {
		return a, errors.New("not an AUTHENTICATE_MESSAGE")
	}
	nt, err := field(msg, 20)
	if err != nil {
		return a, err
	}
	dom, err := field(msg, 28)
	if err != nil {
		return a, err
	}
	user, err := field(msg, 36)
	if err != nil {
		return a, err
	}
	ws, err := field(msg, 44)
	if err != nil {
		return a, err
	}
	a = Authenticate{Domain: fromUTF16LE(dom), User: fromUTF16LE(user), Workstation: fromUTF16LE(ws)}
	if len(nt) < 16+28 {
		return a, errors.New("NtChallengeResponse too short for NTLMv2")
	}
	proof, temp := nt[:16], nt[16:]
	if temp[0] != 1 || temp[1] != 1 {
		return a, errors.New("bad NTLMv2_CLIENT_CHALLENGE version")
	}
	if !bytes.Contains(temp, targetInfo[:len(targetInfo)-4]) {
		return a, errors.New("the client's temp does not carry the challenge's target info")
	}
	want := NTProofStr(NTOWFv2(password(a.User, a.Domain), a.User, a.Domain), serverChallenge, temp)
	if !hmac.Equal(proof, want) {
		return a, errors.New("wrong NTProofStr")
	}
	return a, nil
}
