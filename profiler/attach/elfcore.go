//go:build linux && amd64

package attach

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"io"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// An ELF core file, as the Linux kernel writes one, is enough for delve to
// read goroutines, stacks and variables. leakhunt writes its own: a small one
// in memory for a live capture (only the memory copied while the target was
// stopped), and a full one for `leakhunt core`.

// coreSegment is one PT_LOAD segment: size bytes at addr, produced by fill.
type coreSegment struct {
	addr, size uint64
	flags      elf.ProgFlag
	// fill writes exactly size bytes.
	fill func(w io.Writer) error
}

const (
	ntFile = 0x46494c45 // NT_FILE: "FILE"
	ntAuxv = 6          // NT_AUXV
)

// prstatus is the kernel's struct elf_prstatus on amd64.
type prstatus struct {
	Signo, Code, Errno   int32
	Cursig               uint16
	_                    [2]byte
	Sigpend, Sighold     uint64
	Pid, Ppid, Pgrp, Sid int32
	Times                [8]int64
	Regs                 unix.PtraceRegs
	Fpvalid              int32
	_                    [4]byte
}

// prpsinfo is the kernel's struct elf_prpsinfo on amd64.
type prpsinfo struct {
	State, Sname, Zomb, Nice uint8
	_                        [4]byte
	Flag                     uint64
	UID, GID                 uint32
	Pid, Ppid, Pgrp, Sid     int32
	Fname                    [16]byte
	Args                     [80]byte
}

// coreNotes builds the PT_NOTE content: process info, one NT_PRSTATUS per
// thread (the first is the one delve selects), the auxiliary vector, and
// NT_FILE listing the executable's mappings so that the reader takes code and
// read-only data from the executable.
func coreNotes(pid int, threads []*tracedThread, auxv []byte, maps []mapping, exe string) []byte {
	var buf bytes.Buffer
	note := func(typ elf.NType, desc []byte) {
		name := []byte("CORE\x00")
		binary.Write(&buf, le, [3]uint32{uint32(len(name)), uint32(len(desc)), uint32(typ)})
		buf.Write(name)
		pad4(&buf)
		buf.Write(desc)
		pad4(&buf)
	}
	var ps prpsinfo
	ps.Pid = int32(pid)
	copy(ps.Fname[:], filepath.Base(exe))
	note(elf.NT_PRPSINFO, encode(&ps))
	for _, t := range threads {
		st := prstatus{Pid: int32(t.tid), Regs: t.regs, Cursig: uint16(t.sig)}
		note(elf.NT_PRSTATUS, encode(&st))
	}
	if len(auxv) > 0 {
		note(ntAuxv, auxv)
	}
	var files bytes.Buffer
	var names bytes.Buffer
	n := 0
	for _, m := range maps {
		if m.path != exe {
			continue
		}
		binary.Write(&files, le, [3]uint64{m.start, m.end, m.offset / 4096})
		names.WriteString(m.path)
		names.WriteByte(0)
		n++
	}
	if n > 0 {
		var desc bytes.Buffer
		binary.Write(&desc, le, [2]uint64{uint64(n), 4096})
		desc.Write(files.Bytes())
		desc.Write(names.Bytes())
		note(ntFile, desc.Bytes())
	}
	return buf.Bytes()
}

func encode(v any) []byte {
	var b bytes.Buffer
	binary.Write(&b, le, v)
	return b.Bytes()
}

func pad4(b *bytes.Buffer) {
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
}

// writeCore writes an ELF core file with the given notes and segments.
func writeCore(w io.Writer, notes []byte, segs []coreSegment) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	const ehsize, phsize = 64, 56
	phnum := 1 + len(segs)
	off := uint64(ehsize + phsize*phnum)
	hdr := elf.Header64{
		Type: uint16(elf.ET_CORE), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Phoff: ehsize, Ehsize: ehsize, Phentsize: phsize, Phnum: uint16(phnum),
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	if err := binary.Write(bw, le, &hdr); err != nil {
		return err
	}
	progs := []elf.Prog64{{Type: uint32(elf.PT_NOTE), Off: off, Filesz: uint64(len(notes)), Align: 4}}
	off += uint64(len(notes))
	for _, s := range segs {
		progs = append(progs, elf.Prog64{
			Type: uint32(elf.PT_LOAD), Flags: uint32(s.flags), Off: off, Vaddr: s.addr,
			Filesz: s.size, Memsz: s.size, Align: 1,
		})
		off += s.size
	}
	if err := binary.Write(bw, le, progs); err != nil {
		return err
	}
	if _, err := bw.Write(notes); err != nil {
		return err
	}
	for _, s := range segs {
		if err := s.fill(bw); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// regionSegments turns copied regions into core segments.
func regionSegments(rs []region) []coreSegment {
	segs := make([]coreSegment, 0, len(rs))
	for _, r := range rs {
		data := r.data
		segs = append(segs, coreSegment{
			addr: r.addr, size: uint64(len(data)), flags: elf.PF_R | elf.PF_W,
			fill: func(w io.Writer) error { _, err := w.Write(data); return err },
		})
	}
	return segs
}
