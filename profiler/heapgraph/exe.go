package heapgraph

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sort"
	"syscall"
)

// exe is the target's executable, mapped read-only: its loadable segments
// stand in for memory the Image lacks (type descriptors, names, GC masks and
// the initial content of data), its symbols and DWARF describe the runtime.
type exe struct {
	path string
	bias uint64
	file *elf.File
	data []byte // the whole file, mmapped
	segs []exeSeg
	syms map[string]elf.Symbol
	dw   *dwarf.Data
	// relocs are a position-independent executable's R_X86_64_RELATIVE
	// relocations, by run-time address: the loader writes bias+addend
	// there, in segments (type descriptors) a core may not hold.
	relocs []reloc
}

type reloc struct{ addr, value uint64 }

// exeSeg is a loadable segment at its run-time address: filesz bytes from
// the file, then zeros up to memsz.
type exeSeg struct {
	addr, memsz, filesz, off uint64
}

// openExe maps the executable at path, loaded with bias.
func openExe(path string, bias uint64) (*exe, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open executable: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open executable: %w", err)
	}
	if st.Size() == 0 {
		return nil, fmt.Errorf("executable %s is empty", path)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map executable %s: %w", path, err)
	}
	x := &exe{path: path, bias: bias, data: data}
	x.file, err = elf.NewFile(byteReaderAt(data))
	if err != nil {
		x.close()
		return nil, fmt.Errorf("read executable %s: %w", path, err)
	}
	for _, p := range x.file.Progs {
		if p.Type == elf.PT_LOAD {
			x.segs = append(x.segs, exeSeg{addr: p.Vaddr + bias, memsz: p.Memsz, filesz: p.Filesz, off: p.Off})
		}
	}
	sort.Slice(x.segs, func(i, j int) bool { return x.segs[i].addr < x.segs[j].addr })
	syms, err := x.file.Symbols()
	if err != nil {
		x.close()
		return nil, fmt.Errorf("%s has no symbol table (not a Go program, or stripped): %w", path, err)
	}
	x.syms = make(map[string]elf.Symbol, 64)
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_OBJECT {
			x.syms[s.Name] = s
		}
	}
	if x.file.Type == elf.ET_DYN {
		x.readRelocs()
	}
	x.dw, err = x.file.DWARF()
	if err != nil {
		x.close()
		return nil, fmt.Errorf("read DWARF of %s (built with -ldflags=-w?): %w", path, err)
	}
	return x, nil
}

func (x *exe) close() {
	if x.data != nil {
		syscall.Munmap(x.data)
		x.data = nil
	}
}

// sym returns the run-time address of a data symbol.
func (x *exe) sym(name string) (uint64, bool) {
	s, ok := x.syms[name]
	if !ok {
		return 0, false
	}
	return s.Value + x.bias, true
}

// bytes returns n bytes at addr from the file's segments: the file's bytes,
// or zeros past filesz (bss). nil if not wholly inside one segment.
func (x *exe) bytes(addr, n uint64) []byte {
	i := sort.Search(len(x.segs), func(i int) bool { return x.segs[i].addr+x.segs[i].memsz > addr })
	if i == len(x.segs) {
		return nil
	}
	s := x.segs[i]
	if addr < s.addr || n > s.memsz || addr-s.addr > s.memsz-n {
		return nil
	}
	off := addr - s.addr
	r := sort.Search(len(x.relocs), func(i int) bool { return x.relocs[i].addr+8 > addr })
	relocated := r < len(x.relocs) && x.relocs[r].addr < addr+n
	if off+n <= s.filesz && !relocated {
		return x.data[s.off+off : s.off+off+n]
	}
	out := make([]byte, n)
	if off < s.filesz {
		copy(out, x.data[s.off+off:s.off+min(s.filesz, off+n)])
	}
	// Apply the relocations, whole words or the part of one inside.
	for ; r < len(x.relocs) && x.relocs[r].addr < addr+n; r++ {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], x.relocs[r].value)
		ra := x.relocs[r].addr
		for k := uint64(0); k < 8; k++ {
			if ra+k >= addr && ra+k < addr+n {
				out[ra+k-addr] = w[k]
			}
		}
	}
	return out
}

// readRelocs reads the R_X86_64_RELATIVE relocations of .rela.dyn (Go's
// linker calls it .rela).
func (x *exe) readRelocs() {
	for _, sec := range x.file.Sections {
		if sec.Type != elf.SHT_RELA {
			continue
		}
		data, err := sec.Data()
		if err != nil {
			continue
		}
		for i := 0; i+24 <= len(data); i += 24 {
			off := binary.LittleEndian.Uint64(data[i:])
			info := binary.LittleEndian.Uint64(data[i+8:])
			addend := binary.LittleEndian.Uint64(data[i+16:])
			if elf.R_X86_64(info&0xffffffff) == elf.R_X86_64_RELATIVE {
				x.relocs = append(x.relocs, reloc{off + x.bias, addend + x.bias})
			}
		}
	}
	sort.Slice(x.relocs, func(i, j int) bool { return x.relocs[i].addr < x.relocs[j].addr })
}

// byteReaderAt reads a byte slice as an io.ReaderAt.
type byteReaderAt []byte

func (b byteReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(b)) {
		return 0, fmt.Errorf("read at %d: out of range", off)
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
