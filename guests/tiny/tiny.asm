; tiny.asm - Fabric's "tiny" test guest: a 512-byte boot sector.
;
; Build:  nasm -f bin -o tiny.img tiny.asm
; Boot:   qemu-system-x86_64 -machine q35 -blockdev node-name=boot,driver=raw,read-only=on,file.driver=file,file.filename=tiny.img
;         -device virtio-blk-pci,drive=boot,bootindex=0 ...
;
; The BIOS (SeaBIOS) loads this sector at 0000:7C00 and jumps to it in 16-bit
; real mode. The guest then speaks Fabric's test-guest console protocol on COM1:
;
;   fabric-guest ready boot=<id>\n         once, right after boot
;   tick <n> boot=<id>\n                   every ~0.5 s, n = 1, 2, 3, ... (decimal)
;
; <id> is 8 lowercase hex digits derived from the time-stamp counter, so every
; boot (including a reset) gets a new one. It lives in guest RAM, so pausing,
; live migration and snapshot restore keep it, and the tick count continues.
;
; Pacing uses the BIOS tick counter (dword at 0040:006C), which the BIOS timer
; interrupt (IRQ0, ~18.2 Hz) increments. That counter is driven by the virtual
; PIT, so it stops while the VM is paused: no ticks are printed while paused
; and none are "caught up" afterwards. Between timer interrupts the CPU sits
; in HLT, so the guest costs the host almost nothing (important under TCG,
; where a busy loop would burn a whole host core).

bits 16
cpu 586                         ; for RDTSC; 32-bit registers work in real mode

org 0x7C00

COM1            equ 0x3F8       ; base I/O port of the first serial port
COM1_LSR        equ COM1 + 5    ; line status register
LSR_THRE        equ 0x20        ; bit 5: transmit holding register empty

BIOS_TICKS      equ 0x046C      ; 0000:046C = 0040:006C, dword, ~18.2065 Hz
TICKS_PER_DAY   equ 0x1800B0    ; the BIOS resets the counter to 0 at midnight
TICKS_PER_LINE  equ 9           ; 9 / 18.2065 Hz = 0.494 s between tick lines

start:
        ; --- Normalize the machine state --------------------------------
        ; Some BIOSes enter at 07C0:0000 instead of 0000:7C00; a far jump
        ; makes CS:IP match the org above. Then zero the data segments and
        ; put the stack just below this sector (it grows down, away from us).
        jmp     0x0000:.cs_ok
.cs_ok:
        cli
        xor     ax, ax
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        mov     sp, 0x7C00
        cld                     ; lodsb walks strings forwards
        sti                     ; the BIOS timer interrupt must keep running

        ; --- Initialize COM1: 115200 baud, 8 data bits, no parity, 1 stop --
        ; QEMU ignores the baud rate, but a real 16550 (and a tidy guest)
        ; wants the line configured before use. No UART interrupts: we poll.
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

        ; --- Per-boot random id -------------------------------------------
        ; RDTSC counts CPU cycles (under TCG: host time; under KVM: cycles
        ; since reset), so its low bits differ from boot to boot. Fold in the
        ; high half and run the result through a multiply/xorshift mix so that
        ; even small differences change every hex digit of the id.
        rdtsc                   ; edx:eax = time-stamp counter
        xor     eax, edx
        mov     ecx, 0x9E3779B1 ; golden-ratio multiplier (odd)
        mul     ecx             ; eax = low 32 bits of the product
        mov     ecx, eax
        shr     ecx, 15
        xor     eax, ecx
        mov     [boot_id], eax

        ; --- Announce readiness ----------------------------------------------
        mov     si, msg_ready
        call    puts
        call    put_boot_id     ; "<id>\n"

        ; --- Tick loop ----------------------------------------------------
        ; Registers kept across the loop:
        ;   ebp = number of tick lines printed so far
        ;   ebx = BIOS tick counter value seen at the previous wake-up
        ;   edi = BIOS ticks accumulated since the last tick line
        xor     ebp, ebp
        xor     edi, edi
        mov     ebx, [BIOS_TICKS]

.wait:
        sti                     ; STI's one-instruction delay guarantees the
        hlt                     ; interrupt cannot slip in before HLT: sleep
                                ; until the next interrupt (normally IRQ0)
        mov     eax, [BIOS_TICKS]
        mov     ecx, eax        ; remember the new value for the next round
        sub     eax, ebx        ; eax = ticks elapsed since the previous wake
        jae     .counted
        ; The counter went backwards: the BIOS wrapped it to 0 at midnight.
        ; Add a day's worth of ticks so the difference is still correct
        ; (otherwise the unsigned difference would be huge and we would
        ; print a flood of tick lines).
        add     eax, TICKS_PER_DAY
.counted:
        mov     ebx, ecx
        add     edi, eax
        cmp     edi, TICKS_PER_LINE
        jb      .wait           ; not yet half a second: sleep again

        sub     edi, TICKS_PER_LINE
        inc     ebp
        mov     si, msg_tick    ; "tick <n> boot=<id>\n"
        call    puts
        mov     eax, ebp
        call    put_decimal
        mov     si, msg_boot
        call    puts
        call    put_boot_id
        jmp     .wait

; ---------------------------------------------------------------------------
; put_boot_id: print the boot id as 8 lowercase hex digits, then "\n".
; Clobbers eax, cx, si.
put_boot_id:
        mov     eax, [boot_id]
        mov     cx, 8
.digit:
        rol     eax, 4          ; bring the most significant nibble to bits 0-3
        push    eax
        and     ax, 0x0F
        mov     si, ax
        mov     al, [hex_digits + si]
        call    putc
        pop     eax
        loop    .digit
        mov     al, 10          ; "\n"
        jmp     putc            ; tail call

; put_decimal: print eax as an unsigned decimal number (no leading zeros).
; Digits come out of the division least significant first, so they are pushed
; on the stack and popped in reverse. Clobbers eax, ecx, edx.
put_decimal:
        mov     ecx, 10
        push    word 0          ; sentinel: 0 marks the bottom of the digits
.divide:
        xor     edx, edx
        div     ecx             ; eax = quotient, edx = next digit
        add     dl, '0'
        push    dx
        test    eax, eax
        jnz     .divide
.emit:
        pop     ax
        test    ax, ax
        jz      .done
        call    putc
        jmp     .emit
.done:
        ret

; puts: print the zero-terminated string at ds:si. Clobbers al, si.
puts:
        lodsb
        test    al, al
        jz      .done
        call    putc
        jmp     puts
.done:
        ret

; putc: write the byte in al to COM1 once the transmitter can take it.
; QEMU normally reports "empty" at once. If the host side of the console is
; not reading (socket buffer full), the bit stays clear; rather than spinning
; on the port we HLT until the next timer interrupt and look again, so a
; stalled console does not turn into a busy loop either. Preserves all but
; flags.
putc:
        push    dx
        push    ax
        mov     dx, COM1_LSR
.poll:
        in      al, dx
        test    al, LSR_THRE
        jnz     .ready
        sti
        hlt
        jmp     .poll
.ready:
        pop     ax
        mov     dx, COM1
        out     dx, al
        pop     dx
        ret

; ---------------------------------------------------------------------------
msg_ready:      db "fabric-guest ready boot=", 0
msg_tick:       db "tick ", 0
msg_boot:       db " boot=", 0
hex_digits:     db "0123456789abcdef"

boot_id:        dd 0            ; written once at boot, read by every line

        times 510 - ($ - $$) db 0   ; pad to 510 bytes (fails if code is too big)
        dw 0xAA55                   ; boot signature the BIOS checks for

        ; The image is a hard disk of one whole cylinder (16 heads of 63
        ; sectors, QEMU's geometry guess for a small disk): SeaBIOS reads by
        ; CHS only within whole cylinders, so a lone sector would not boot.
        times 16 * 63 * 512 - ($ - $$) db 0
