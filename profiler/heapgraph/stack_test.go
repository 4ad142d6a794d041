package heapgraph

import (
	"debug/gosym"
	"testing"
)

// TestStackVarName checks that the pieces of a variable the compiler split
// are named after the variable.
func TestStackVarName(t *testing.T) {
	for in, want := range map[string]string{
		"items.ptr": "items", "x.len": "x", "x.cap": "x", "x.data": "x", "x.itab": "x", "x.type": "x",
		"p.x": "p", "&k": "k", "s": "s", "~r0": "~r0",
	} {
		if got := stackVarName(in); got != want {
			t.Errorf("stackVarName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPcln decodes a program's function table (moduledata read from the
// executable's data: the memory image is empty) and checks every function
// against debug/gosym's reading of the same pclntab, for both Go versions.
func TestPcln(t *testing.T) {
	for _, tc := range toolchains {
		t.Run(tc, func(t *testing.T) {
			t.Parallel()
			bin := buildProg(t, "counts", tc)
			x, err := openExe(bin, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer x.close()
			sl, err := readStackLayout(x.dw)
			if err != nil {
				t.Fatal(err)
			}
			first, ok := x.sym("runtime.firstmoduledata")
			if !ok {
				t.Fatal("no runtime.firstmoduledata")
			}
			p, err := newPcln(&mem{img: NewImage(nil), x: x}, sl, first)
			if err != nil {
				t.Fatal(err)
			}
			sec := x.file.Section(".gopclntab")
			data, err := sec.Data()
			if err != nil {
				t.Fatal(err)
			}
			tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, x.file.Section(".text").Addr))
			if err != nil {
				t.Fatal(err)
			}
			withMaps := 0
			for _, fn := range tab.Funcs {
				for _, pc := range []uint64{fn.Entry, fn.Entry + (fn.End-fn.Entry)/2} {
					fi := p.find(pc)
					if fi == nil || fi.entry != fn.Entry || fi.name != fn.Name {
						t.Fatalf("function at %#x: %+v, debug/gosym says %s at %#x", pc, fi, fn.Name, fn.Entry)
					}
				}
				fi := p.find(fn.Entry)
				lm := p.funcdata(fi, funcdataLocalsPtrMap)
				if lm == 0 {
					continue
				}
				withMaps++
				// Every stack map index the function's PCs name has a
				// readable bitmap.
				for pc := fn.Entry; pc < fn.End; pc += 7 {
					if idx := p.pcdata(fi, pcdataStackMapIndex, pc); idx >= 0 {
						if _, _, ok := p.stackMap(lm, idx); !ok {
							t.Fatalf("%s: stack map %d (at %#x) unreadable", fn.Name, idx, pc)
						}
					}
				}
				if _, ok := p.stackObjects(fi); !ok {
					t.Fatalf("%s: stack objects unreadable", fn.Name)
				}
			}
			if withMaps < len(tab.Funcs)/2 {
				t.Errorf("only %d of %d functions have locals pointer maps", withMaps, len(tab.Funcs))
			}
			t.Logf("%d functions, %d with stack maps", len(tab.Funcs), withMaps)
		})
	}
}
