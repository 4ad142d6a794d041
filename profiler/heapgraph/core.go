package heapgraph

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// Core is an ELF core file (one `leakhunt core` or the kernel wrote),
// mapped read-only: its memory as an Image without copying, and the file
// mappings it records.
type Core struct {
	// Mem is the core's memory: the bytes of its PT_LOAD segments.
	Mem *Image
	// Exe is the executable named in the core's NT_FILE note, "" if none.
	Exe string
	// Files are the file mappings of the NT_FILE note.
	Files []CoreFile
	data  []byte
}

// CoreFile is one file mapping recorded in a core.
type CoreFile struct {
	Start, End, Off uint64 // Off is in bytes
	Path            string
}

const ntFile = 0x46494c45

// OpenCore maps the core file at path. Close it when the Image is no
// longer used.
func OpenCore(path string) (*Core, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open core: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open core: %w", err)
	}
	if st.Size() < 64 {
		return nil, fmt.Errorf("%s is not an ELF core file: too short", path)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map core %s: %w", path, err)
	}
	c := &Core{data: data}
	ef, err := elf.NewFile(byteReaderAt(data))
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s is not an ELF core file: %w", path, err)
	}
	if ef.Type != elf.ET_CORE {
		c.Close()
		return nil, fmt.Errorf("%s is an ELF file but not a core dump", path)
	}
	var rs []Region
	for _, p := range ef.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			n := min(p.Filesz, p.Memsz)
			if n == 0 {
				continue
			}
			if p.Off+n > uint64(len(data)) {
				c.Close()
				return nil, fmt.Errorf("core %s is truncated: a segment at %#x ends past the end of the file", path, p.Vaddr)
			}
			rs = append(rs, Region{Addr: p.Vaddr, Data: data[p.Off : p.Off+n]})
		case elf.PT_NOTE:
			if p.Off+p.Filesz <= uint64(len(data)) {
				c.Files = append(c.Files, fileNote(data[p.Off:p.Off+p.Filesz])...)
			}
		}
	}
	c.Mem = NewImage(rs)
	if len(c.Files) > 0 {
		c.Exe = c.Files[0].Path
	}
	return c, nil
}

// Close unmaps the core. Its Image must not be used afterwards.
func (c *Core) Close() error {
	if c.data == nil {
		return nil
	}
	err := syscall.Munmap(c.data)
	c.data = nil
	return err
}

// Bias returns the load bias of the executable at exePath in the core's
// process (0 unless it is position-independent), from where the core's
// first mapping of the executable starts.
func (c *Core) Bias(exePath string) (uint64, error) {
	f, err := elf.Open(exePath)
	if err != nil {
		return 0, fmt.Errorf("open executable: %w", err)
	}
	defer f.Close()
	if f.Type != elf.ET_DYN {
		return 0, nil
	}
	var first *elf.Prog
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && (first == nil || p.Vaddr < first.Vaddr) {
			first = p
		}
	}
	if first == nil || c.Exe == "" {
		return 0, errors.New("cannot tell where a position-independent executable was loaded: the core names no executable mapping")
	}
	for _, m := range c.Files {
		if m.Path == c.Exe && m.Off == first.Off&^0xfff {
			return m.Start - first.Vaddr&^0xfff, nil
		}
	}
	return 0, fmt.Errorf("the core has no mapping of %s at file offset %#x", c.Exe, first.Off)
}

// fileNote decodes the NT_FILE notes in a PT_NOTE segment.
func fileNote(data []byte) []CoreFile {
	le := binary.LittleEndian
	var out []CoreFile
	for len(data) >= 12 {
		namesz, descsz, typ := le.Uint32(data), le.Uint32(data[4:]), le.Uint32(data[8:])
		off := 12 + int(namesz+3)&^3
		if off+int(descsz) > len(data) {
			break
		}
		desc := data[off : off+int(descsz)]
		data = data[min(len(data), off+int(descsz+3)&^3):]
		if typ != ntFile || len(desc) < 16 {
			continue
		}
		n, pageSize := le.Uint64(desc), le.Uint64(desc[8:])
		if n > uint64(len(desc))/24 {
			continue
		}
		names := bytes.Split(desc[16+n*24:], []byte{0})
		for i := uint64(0); i < n && int(i) < len(names); i++ {
			e := desc[16+i*24:]
			out = append(out, CoreFile{
				Start: le.Uint64(e), End: le.Uint64(e[8:]), Off: le.Uint64(e[16:]) * pageSize,
				Path: strings.TrimSuffix(string(names[i]), " (deleted)"),
			})
		}
	}
	return out
}

var _ io.Closer = (*Core)(nil)
