// Package saslspec holds server-side checks of SASL exchanges, written from
// the specifications (RFC 1320 MD4, RFC 2831 DIGEST-MD5, MS-NLMP NTLMv2,
// RFC 7628 OAUTHBEARER) and not from mailscript's client code, for the
// tests of transport and transport/auth to verify the client against. It
// is not meant for production use.
package saslspec
