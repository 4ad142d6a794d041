//go:build linux && amd64

package attach

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/go-delve/delve/pkg/dwarf/godwarf"
	"github.com/go-delve/delve/pkg/proc"
)

// layout is what leakhunt must know about a target's runtime before stopping
// it: where the runtime's globals live and the offsets of the struct fields it
// follows while the process is stopped. Everything comes from the binary's
// symbol table and DWARF types, so it follows the target's Go version.
type layout struct {
	bias uint64 // load address minus link address (PIE)
	// writable is the binary's data and bss, at run-time addresses.
	writable []span
	// segs are the writable PT_LOAD segments: where their initial content
	// is in the file.
	segs []dataSeg
	sym  map[string]uint64

	gSize, mSize                          int64
	gStackLo, gStackHi, gSchedSP, gStatus int64
	mG0, mGsignal, mCurg, mAlllink        int64
	bucketSize, bucketAllnext, bucketNstk int64
	bucketTyp                             int64
	memRecordSize                         int64
}

// dataSeg is a writable segment of the executable: filesz bytes of it come
// from the file at offset off, the rest (bss) starts as zeros.
type dataSeg struct {
	addr, memsz, off, filesz uint64
}

// span is an address range [addr, addr+size).
type span struct{ addr, size uint64 }

// runtimeSymbols are the globals a capture reads.
var runtimeSymbols = []string{
	"runtime.allgs", "runtime.allglen", "runtime.allm", "runtime.mbuckets",
	"runtime.MemProfileRate", "runtime.mProfCycle", "runtime.memstats",
	"runtime.waitReasonStrings", "runtime.gStatusStrings", "runtime.gcController",
	"runtime.mheap_", "runtime.disableMemoryProfiling",
	"internal/runtime/gc.SizeClassToSize", "runtime.class_to_size", "runtime.firstmoduledata",
}

// readLayout reads the layout of the binary at path, loaded with the given bias.
func readLayout(path string, bias uint64, bi *proc.BinaryInfo) (*layout, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l := &layout{bias: bias, sym: map[string]uint64{}}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_W != 0 {
			start := (p.Vaddr + bias) &^ 0xfff
			end := (p.Vaddr + bias + p.Memsz + 0xfff) &^ 0xfff
			l.writable = append(l.writable, span{start, end - start})
			l.segs = append(l.segs, dataSeg{addr: p.Vaddr + bias, memsz: p.Memsz, off: p.Off, filesz: p.Filesz})
		}
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("read symbol table: %w", err)
	}
	want := map[string]bool{}
	for _, s := range runtimeSymbols {
		want[s] = true
	}
	for _, s := range syms {
		if want[s.Name] {
			l.sym[s.Name] = s.Value + bias
		}
	}
	for _, s := range []string{"runtime.allgs", "runtime.allglen", "runtime.allm"} {
		if l.sym[s] == 0 {
			return nil, fmt.Errorf("symbol %s missing from the binary", s)
		}
	}
	var errs []error
	field := func(typ *godwarf.StructType, path string) int64 {
		off, err := fieldOffset(typ, path)
		if err != nil {
			errs = append(errs, err)
		}
		return off
	}
	g, err := structType(bi, "runtime.g")
	if err != nil {
		return nil, err
	}
	m, err := structType(bi, "runtime.m")
	if err != nil {
		return nil, err
	}
	l.gSize, l.mSize = g.Size(), m.Size()
	l.gStackLo = field(g, "stack.lo")
	l.gStackHi = field(g, "stack.hi")
	l.gSchedSP = field(g, "sched.sp")
	l.gStatus = field(g, "atomicstatus")
	l.mG0 = field(m, "g0")
	l.mGsignal = field(m, "gsignal")
	l.mCurg = field(m, "curg")
	l.mAlllink = field(m, "alllink")
	if b, err := structType(bi, "runtime.bucket"); err == nil {
		l.bucketSize = b.Size()
		l.bucketAllnext = field(b, "allnext")
		l.bucketNstk = field(b, "nstk")
		l.bucketTyp = field(b, "typ")
		if mr, err := structType(bi, "runtime.memRecord"); err == nil {
			l.memRecordSize = mr.Size()
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return l, nil
}

// structType finds a struct type in the target's DWARF.
func structType(bi *proc.BinaryInfo, name string) (*godwarf.StructType, error) {
	t, err := bi.FindType(name)
	if err != nil {
		return nil, fmt.Errorf("type %s: %w", name, err)
	}
	st, ok := resolve(t).(*godwarf.StructType)
	if !ok {
		return nil, fmt.Errorf("type %s is not a struct", name)
	}
	return st, nil
}

// resolve strips typedefs.
func resolve(t godwarf.Type) godwarf.Type {
	for {
		td, ok := t.(*godwarf.TypedefType)
		if !ok {
			return t
		}
		t = td.Type
	}
}

// fieldOffset returns the offset of a dotted field path ("sched.sp") in typ.
// A path element of a struct with a single field "value" or "u" (the
// runtime's atomic wrappers) may be left out.
func fieldOffset(typ *godwarf.StructType, path string) (int64, error) {
	var off int64
	cur := typ
	parts := strings.Split(path, ".")
	for i, name := range parts {
		var f *godwarf.StructField
		for _, c := range cur.Field {
			if c.Name == name {
				f = c
				break
			}
		}
		if f == nil {
			return 0, fmt.Errorf("field %s of %s not found", path, typ.StructName)
		}
		off += f.ByteOffset
		if i == len(parts)-1 {
			break
		}
		next, ok := resolve(f.Type).(*godwarf.StructType)
		if !ok {
			return 0, fmt.Errorf("field %s of %s is not a struct", name, typ.StructName)
		}
		cur = next
	}
	return off, nil
}

// le is the byte order of every target leakhunt reads (amd64).
var le = binary.LittleEndian

func u64(b []byte, off int64) uint64 {
	if off < 0 || int(off)+8 > len(b) {
		return 0
	}
	return le.Uint64(b[off:])
}

func u32(b []byte, off int64) uint32 {
	if off < 0 || int(off)+4 > len(b) {
		return 0
	}
	return le.Uint32(b[off:])
}
