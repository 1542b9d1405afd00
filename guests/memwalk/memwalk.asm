; memwalk.asm - Fabric's "memwalk" test guest: a boot disk that dirties memory
; page by page, as fast as the CPU allows.
;
; Build:  nasm -f bin -o memwalk.img memwalk.asm      (a one-cylinder hard disk)
; Boot:   qemu-system-x86_64 -machine q35 -m 64M -blockdev node-name=boot,driver=raw,read-only=on,file.driver=file,
;         file.filename=memwalk.img -device virtio-blk-pci,drive=boot,bootindex=0 ...
;
; It speaks Fabric's test-guest console protocol on COM1, with pass lines in
; place of tiny's ticks:
;
;   fabric-guest ready boot=<id>\n                        once, right after boot
;   memwalk base=0x<hex> size=0x<hex> stride=4096\n       once: the walked range
;   pass <n> boot=<id>\n                                  about once a second
;
; <id> is 8 lowercase hex digits from the time-stamp counter, as in tiny.
; base is 2 MiB; the range ends 1 MiB below the top of the RAM that continues
; from 1 MiB (E820, else E801), rounded down to a whole MiB, so the VM's memory
; size decides how much is walked. Both numbers are printed as 8 hex digits.
;
; On every pass the guest increments the byte at offset 0 of each 4 KiB page of
; the range, in ascending address order (mod 256). So, at any instant, those
; bytes read v+1 for a prefix of the pages and v for the rest: each page equals
; the one before it or is exactly one behind, at most once. A byte that breaks
; this was lost or corrupted (for example by a migration that missed a dirty
; page). The bytes are zeroed before the first pass, so whatever the BIOS left
; there does not matter. <n> is the number of passes completed; a line is
; printed after a pass whenever the CMOS clock's seconds changed since the last
; line (every pass, when a pass takes longer than a second).
;
; Layout: the BIOS loads sector 1 (this boot sector) at 0000:7C00. It sets up
; COM1 and loads the rest (STAGE2_SECTORS sectors) to 0000:7E00 with int 13h.
; The rest asks the BIOS for the memory map, enables A20 and switches to 32-bit
; protected mode with flat segments and interrupts off: no IDT, no BIOS, no
; HLT. It never halts. Unlike tiny it keeps a host core busy (under TCG too):
; it is the fast-dirtying guest that plain pre-copy migration cannot finish.

bits 16
cpu 586                         ; RDTSC; 32-bit registers and protected mode

org 0x7C00

COM1            equ 0x3F8       ; base I/O port of the first serial port
COM1_LSR        equ COM1 + 5    ; line status register
LSR_THRE        equ 0x20        ; bit 5: transmit holding register empty

CMOS_INDEX      equ 0x70        ; bit 7 of the index disables NMI
CMOS_DATA       equ 0x71
CMOS_NMI_OFF    equ 0x80
RTC_SECONDS     equ 0x00
RTC_STATUS_A    equ 0x0A
RTC_UIP         equ 0x80        ; status A bit 7: an update is in progress

STACK_TOP       equ 0x7C00      ; grows down, away from the code
STAGE2          equ 0x7E00      ; where the sectors after this one are loaded
DISK_TRIES      equ 3

WALK_BASE       equ 0x200000    ; 2 MiB: above the BIOS, the IVT and this code
TOP_MARGIN      equ 0x100000    ; leave the top 1 MiB of RAM alone
PAGE_SIZE       equ 4096        ; the stride: one byte per 4 KiB page

SMAP            equ 0x534D4150  ; 'SMAP', the E820 signature
E820_USABLE     equ 1

CODE_SELECTOR   equ gdt.code - gdt
DATA_SELECTOR   equ gdt.data - gdt

; ===========================================================================
; Sector 1: real mode, loaded by the BIOS.

start:
        ; Some BIOSes enter at 07C0:0000; the far jump makes CS:IP match the
        ; org. Then flat real-mode segments and a stack below this sector.
        jmp     0x0000:.cs_ok
.cs_ok:
        cli
        xor     ax, ax
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        mov     sp, STACK_TOP
        cld
        sti                     ; the BIOS disk services need interrupts
        mov     [boot_drive], dl    ; the BIOS passes the boot drive in DL

        ; --- COM1: 115200 baud, 8N1, FIFOs on, no UART interrupts (as tiny) --
        mov     dx, COM1 + 1
        mov     al, 0x00        ; IER: all UART interrupts off
        out     dx, al
        mov     dx, COM1 + 3
        mov     al, 0x80        ; LCR: DLAB=1 to reach the divisor latch
        out     dx, al
        mov     dx, COM1 + 0
        mov     al, 0x01        ; divisor low byte: 115200 / 1
        out     dx, al
        mov     dx, COM1 + 1
        mov     al, 0x00        ; divisor high byte
        out     dx, al
        mov     dx, COM1 + 3
        mov     al, 0x03        ; LCR: DLAB=0, 8N1
        out     dx, al
        mov     dx, COM1 + 2
        mov     al, 0xC7        ; FCR: enable and clear the FIFOs
        out     dx, al
        mov     dx, COM1 + 4
        mov     al, 0x03        ; MCR: DTR and RTS asserted
        out     dx, al

        ; --- Load the rest of the program --------------------------------
        ; Sectors 2 .. 1+STAGE2_SECTORS of the boot drive are all on
        ; cylinder 0, head 0 (CHS, so any BIOS disk service can read them).
        ; A read that fails is tried again after a reset of the disk system.
        mov     si, DISK_TRIES
.read:
        mov     ax, 0x0200 + STAGE2_SECTORS ; AH=02 read sectors, AL=count
        mov     cx, 0x0002      ; CH=cylinder 0, CL=sector 2
        xor     dh, dh          ; head 0
        mov     dl, [boot_drive]
        mov     bx, STAGE2      ; ES:BX = 0000:7E00
        int     0x13
        jnc     stage2_real
        xor     ah, ah          ; AH=00: reset the disk system
        mov     dl, [boot_drive]
        int     0x13
        dec     si
        jnz     .read

        mov     si, msg_disk_error
.error:
        lodsb
        test    al, al
        jz      .dead
        mov     dx, COM1        ; no wait: this is the only line, and the FIFO
        out     dx, al          ; holds 16 bytes; QEMU drains at once anyway
        jmp     .error
.dead:
        cli
        hlt
        jmp     .dead

msg_disk_error: db "memwalk: could not read its sectors", 10, 0
boot_drive:     db 0

        times 510 - ($ - $$) db 0   ; pad to 510 bytes (fails if code is too big)
        dw 0xAA55                   ; boot signature the BIOS checks for

; ===========================================================================
; Sectors 2 and on: still real mode, then protected mode.

stage2_real:
        ; --- Per-boot random id (the same mix as tiny) ----------------------
        rdtsc
        xor     eax, edx
        mov     ecx, 0x9E3779B1 ; golden-ratio multiplier (odd)
        mul     ecx
        mov     ecx, eax
        shr     ecx, 15
        xor     eax, ecx
        mov     [boot_id], eax

        ; --- The range to walk ----------------------------------------------
        call    ram_top         ; eax = top of the RAM from 1 MiB (0: unknown)
        and     eax, ~(TOP_MARGIN - 1)          ; a whole MiB
        sub     eax, TOP_MARGIN
        jbe     .empty          ; less than 1 MiB of it: walk nothing
        cmp     eax, WALK_BASE
        jbe     .empty
        sub     eax, WALK_BASE
        mov     [walk_size], eax
.empty:

        ; --- A20 ---------------------------------------------------------
        ; Without it, address bit 20 is forced to 0 and every odd MiB would
        ; alias the even one below it. Ask the BIOS, then set the "fast A20"
        ; bit of port 0x92 (never bit 0 there: that resets the machine).
        mov     ax, 0x2401
        int     0x15
        in      al, 0x92
        test    al, 0x02
        jnz     .a20_on
        or      al, 0x02
        and     al, 0xFE
        out     0x92, al
.a20_on:

        ; --- Protected mode ----------------------------------------------
        ; No interrupts from here on: there is no IDT. NMIs are kept off at
        ; the CMOS index port as well (every CMOS access below sets bit 7).
        cli
        mov     al, CMOS_NMI_OFF | RTC_STATUS_A
        out     CMOS_INDEX, al
        lgdt    [gdtr]
        mov     eax, cr0
        or      al, 1           ; PE
        mov     cr0, eax
        jmp     CODE_SELECTOR:protected

; ram_top: eax = the end of the usable RAM that runs on without a gap from
; 1 MiB, below 4 GiB; 0 when the BIOS could not tell. Uses E820, whose entries
; may come in any order and split one range in pieces: the map is read again
; while an entry still extends the range. Falls back to E801.
ram_top:
        mov     dword [top], 0x100000
.scan:
        mov     byte [grew], 0
        xor     ebx, ebx        ; continuation: 0 = the first entry
        mov     di, e820_entry
.entry:
        mov     eax, 0xE820
        mov     edx, SMAP
        mov     ecx, 24
        mov     dword [di + 20], 1  ; ACPI 3 attributes: "valid" unless told
        int     0x15
        jc      .map_end        ; no map, or past its end
        cmp     eax, SMAP
        jne     .map_end
        cmp     dword [di + 16], E820_USABLE
        jne     .next
        test    byte [di + 20], 1   ; an entry the BIOS says to ignore
        jz      .next
        cmp     dword [di + 4], 0   ; starts above 4 GiB
        jne     .next
        mov     eax, [di]           ; base
        cmp     eax, [top]
        ja      .next               ; a gap before it
        mov     edx, [di + 12]
        add     eax, [di + 8]       ; + length: edx:eax = end
        adc     edx, 0
        jz      .below_4g
        mov     eax, 0xFFFFF000     ; reaches 4 GiB: stop just below
.below_4g:
        cmp     eax, [top]
        jbe     .next
        mov     [top], eax
        mov     byte [grew], 1
.next:
        test    ebx, ebx
        jnz     .entry
.map_end:
        cmp     byte [grew], 0
        jne     .scan
        mov     eax, [top]
        cmp     eax, 0x100000
        ja      .done

        ; E801: AX/CX = KiB from 1 MiB to 16 MiB, BX/DX = 64 KiB blocks above
        ; 16 MiB (some BIOSes fill AX/BX, others CX/DX).
        mov     ax, 0xE801
        xor     cx, cx
        xor     dx, dx
        int     0x15
        jc      .unknown
        jcxz    .in_ax
        mov     ax, cx
        mov     bx, dx
.in_ax:
        movzx   eax, ax
        movzx   ebx, bx
        cmp     eax, 15 * 1024
        jb      .below_16m      ; a hole below 16 MiB: the blocks above do not count
        test    ebx, ebx
        jz      .below_16m
        shl     ebx, 16
        lea     eax, [ebx + 0x1000000]
        ret
.below_16m:
        shl     eax, 10
        add     eax, 0x100000
        ret
.unknown:
        xor     eax, eax
.done:
        ret

; ---------------------------------------------------------------------------
bits 32

protected:
        mov     ax, DATA_SELECTOR
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        mov     ss, ax
        mov     esp, STACK_TOP

        mov     esi, msg_ready  ; "fabric-guest ready boot=<id>\n"
        call    puts
        call    put_boot_id

        mov     esi, msg_range  ; "memwalk base=0x<hex> size=0x<hex> stride=4096\n"
        call    puts
        mov     eax, WALK_BASE
        call    put_hex
        mov     esi, msg_size
        call    puts
        mov     eax, [walk_size]
        call    put_hex
        mov     esi, msg_stride
        call    puts

        ; Zero the walked bytes first: the BIOS may have used this memory.
        mov     edi, WALK_BASE
        mov     ecx, [walk_size]
        add     ecx, edi        ; ecx = end of the range
        jmp     .zero_test
.zero:
        mov     byte [edi], 0
        add     edi, PAGE_SIZE
.zero_test:
        cmp     edi, ecx
        jb      .zero

        call    rtc_seconds
        mov     [last_second], al
        xor     ebp, ebp        ; ebp = passes completed

        ; --- The walk ----------------------------------------------------
.pass:
        mov     edi, WALK_BASE
        jmp     .page_test
.page:
        inc     byte [edi]
        add     edi, PAGE_SIZE
.page_test:
        cmp     edi, ecx
        jb      .page
        inc     ebp

        ; Heartbeat: once the clock's seconds changed since the last line.
        call    rtc_seconds
        jc      .pass           ; the clock is updating: look after the next pass
        cmp     al, [last_second]
        je      .pass
        mov     [last_second], al
        push    ecx
        mov     esi, msg_pass   ; "pass <n> boot=<id>\n"
        call    puts
        mov     eax, ebp
        call    put_decimal
        mov     esi, msg_boot
        call    puts
        call    put_boot_id
        pop     ecx
        jmp     .pass

; rtc_seconds: al = the CMOS clock's seconds register (BCD or binary, which
; does not matter: only changes count), CF=0; CF=1 while the clock updates.
; Clobbers al.
rtc_seconds:
        mov     al, CMOS_NMI_OFF | RTC_STATUS_A
        out     CMOS_INDEX, al
        in      al, CMOS_DATA
        test    al, RTC_UIP
        jnz     .updating
        ; UIP clear: the next update is at least 244 us away.
        mov     al, CMOS_NMI_OFF | RTC_SECONDS
        out     CMOS_INDEX, al
        in      al, CMOS_DATA
        clc
        ret
.updating:
        stc
        ret

; put_boot_id: the boot id as 8 hex digits, then "\n". Clobbers eax, ecx, esi.
put_boot_id:
        mov     eax, [boot_id]
        call    put_hex
        mov     al, 10
        jmp     putc            ; tail call

; put_hex: eax as 8 lowercase hex digits. Clobbers eax, ecx, esi.
put_hex:
        mov     ecx, 8
.digit:
        rol     eax, 4          ; the most significant nibble to bits 0-3
        mov     esi, eax
        and     esi, 0x0F
        push    eax
        mov     al, [hex_digits + esi]
        call    putc
        pop     eax
        loop    .digit
        ret

; put_decimal: eax as an unsigned decimal number (no leading zeros). Digits
; come out least significant first, so they go on the stack above a 0 sentinel.
; Clobbers eax, ecx, edx.
put_decimal:
        mov     ecx, 10
        push    dword 0
.divide:
        xor     edx, edx
        div     ecx
        add     dl, '0'
        push    edx
        test    eax, eax
        jnz     .divide
.emit:
        pop     eax
        test    eax, eax
        jz      .done
        call    putc
        jmp     .emit
.done:
        ret

; puts: the zero-terminated string at esi. Clobbers al, esi.
puts:
        lodsb
        test    al, al
        jz      .done
        call    putc
        jmp     puts
.done:
        ret

; putc: al to COM1 once the transmitter takes it. With interrupts off there is
; nothing to sleep on, so this spins; QEMU reports "empty" at once anyway.
; Preserves all but flags.
putc:
        push    edx
        push    eax
        mov     dx, COM1_LSR
.poll:
        in      al, dx
        test    al, LSR_THRE
        jz      .poll
        pop     eax
        mov     dx, COM1
        out     dx, al
        pop     edx
        ret

; ---------------------------------------------------------------------------
; Data.

align 8, db 0
gdt:
        dq      0                       ; the null descriptor
.code:  dq      0x00CF9A000000FFFF      ; base 0, limit 4 GiB, 32-bit, execute/read
.data:  dq      0x00CF92000000FFFF      ; base 0, limit 4 GiB, read/write
gdt_end:

gdtr:
        dw      gdt_end - gdt - 1
        dd      gdt

msg_ready:      db "fabric-guest ready boot=", 0
msg_range:      db "memwalk base=0x", 0
msg_size:       db " size=0x", 0
msg_stride:     db " stride=4096", 10, 0
msg_pass:       db "pass ", 0
msg_boot:       db " boot=", 0
hex_digits:     db "0123456789abcdef"

boot_id:        dd 0            ; written once at boot
walk_size:      dd 0            ; bytes walked from WALK_BASE (0: too little RAM)
top:            dd 0            ; ram_top's running answer
grew:           db 0            ; ram_top: the last read of the map extended it
last_second:    db 0            ; the clock's seconds at the last pass line
align 4, db 0
e820_entry:     times 24 db 0   ; one E820 entry: base, length, type, attributes

        align 512, db 0
stage2_end:

STAGE2_SECTORS  equ (stage2_end - stage2_real) / 512

        ; Cylinder 0, head 0 holds sectors 1-63: the program must fit there
        ; (a negative count here stops the build).
        times 62 * 512 - (stage2_end - stage2_real) db 0

        ; A hard disk of one whole cylinder (16 heads of 63 sectors), so
        ; QEMU's geometry guess matches the image exactly: SeaBIOS reads by CHS
        ; only within whole cylinders.
        times 16 * 63 * 512 - ($ - $$) db 0
