package kassa

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// NewID returns prefix + "_" + 26 characters: 48 bits of milliseconds then 80
// random bits in Crockford base32, so IDs sort by creation time (cursor
// pagination and event order read IDs that way) and cannot be guessed.
// Within one process IDs are strictly increasing: an ID made in the same
// millisecond as the previous one (or after the clock stepped back) is the
// previous one plus a random 1..2^32, so events written one after another in
// the same millisecond still list in the order they happened.
func NewID(prefix string) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	idMu.Lock()
	if bytes.Compare(b[:], lastID[:]) <= 0 {
		hi, lo := binary.BigEndian.Uint64(lastID[:8]), binary.BigEndian.Uint64(lastID[8:])
		next := lo + 1 + uint64(binary.BigEndian.Uint32(b[12:]))
		if next < lo {
			hi++
		}
		binary.BigEndian.PutUint64(b[:8], hi)
		binary.BigEndian.PutUint64(b[8:], next)
	}
	lastID = b
	idMu.Unlock()
	return prefix + "_" + encode128(b)
}

var (
	idMu   sync.Mutex
	lastID [16]byte // the last ID NewID returned
)

// RandomToken returns n random bytes in Crockford base32 (for secrets).
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	out := make([]byte, 0, (n*8+4)/5)
	var acc uint64
	bits := 0
	for _, c := range b {
		acc = acc<<8 | uint64(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out = append(out, crockford[(acc>>uint(bits))&31])
		}
	}
	if bits > 0 {
		out = append(out, crockford[(acc<<uint(5-bits))&31])
	}
	return string(out)
}

func encode128(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
