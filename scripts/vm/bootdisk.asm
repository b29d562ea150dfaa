; Boot sector of the test LUNs. When firmware (iPXE sanboot) boots it, it reports
; over COM1 what a person would check by hand on a real server:
;   BCM-BOOT-OK label=<label>     which LUN booted (label patched in per image)
;   IBFT-HEX <hex bytes>          the whole iBFT that the firmware published, so
;                                 the test can decode it with our iBFT decoder
;   BCM-MBR-DONE
; then writes to QEMU's isa-debug-exit port (QEMU exits with status 33).
; Assemble with `nasm -f bin`. Real mode, no BIOS calls except none at all:
; output goes straight to the 16550 UART at 0x3F8.
bits 16
org 0x7c00

LABEL_OFFSET equ 400            ; where make-bootdisk.sh writes the label
LABEL_SIZE   equ 46             ; up to the partition table at 446

start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7c00
    cld
    mov si, msg_boot
    call print
    mov si, 0x7c00 + LABEL_OFFSET
    call print
    call newline

    ; ACPI/iBFT spec: the table sits on a 16-byte boundary in 0x80000-0xFFFFF.
    mov bx, 0x8000
.scan:
    mov es, bx
    cmp dword [es:0], 0x54464269 ; "iBFT" read as a little-endian dword
    je .found
    inc bx
    jnz .scan
    mov si, msg_noibft
    call print
    jmp finish
.found:
    mov si, msg_hex
    call print
    mov cx, [es:4]              ; table length (low 16 bits; iBFT is small)
    xor di, di
.dump:
    mov al, [es:di]
    call hex8
    inc di
    loop .dump
    call newline

finish:
    mov si, msg_done
    call print
    mov al, 0x10                ; QEMU exit status (0x10 << 1) | 1 = 33
    out 0xf4, al
.halt:
    hlt
    jmp .halt

; print: NUL-terminated string at ds:si
print:
    lodsb
    test al, al
    jz .ret
    call putc
    jmp print
.ret:
    ret

newline:
    mov al, 13
    call putc
    mov al, 10
    jmp putc

; hex8: AL as two hex digits
hex8:
    push ax
    shr al, 4
    call .digit
    pop ax
    and al, 0x0f
.digit:
    and al, 0x0f
    add al, '0'
    cmp al, '9'
    jbe putc
    add al, 'a' - '9' - 1
    ; falls through to putc

; putc: AL to COM1 once the transmit holding register is empty
putc:
    push dx
    push ax
    mov dx, 0x3fd
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    pop ax
    mov dx, 0x3f8
    out dx, al
    pop dx
    ret

msg_boot   db 13, 10, 'BCM-BOOT-OK label=', 0
msg_hex    db 'IBFT-HEX ', 0
msg_noibft db 'IBFT-NOT-FOUND', 13, 10, 0
msg_done   db 'BCM-MBR-DONE', 13, 10, 0

times LABEL_OFFSET - ($ - $$) db 0
label      times LABEL_SIZE db 0
times 510 - ($ - $$) db 0
dw 0xaa55
