#include "textflag.h"

// func prefetchw(p unsafe.Pointer, lines int)
TEXT ·prefetchw(SB),NOSPLIT,$0-16
	MOVQ p+0(FP), AX
	MOVQ lines+8(FP), CX
	TESTQ CX, CX
	JLE done
loop:
	BYTE $0x0F; BYTE $0x0D; BYTE $0x08 // PREFETCHW (AX): the Go assembler has no mnemonic for it
	ADDQ $64, AX
	DECQ CX
	JNZ loop
done:
	RET
