/* data_in_text.c: a function with bytes inside its code that do not decode
 * in 64-bit mode (0x06 push es, 0x07 pop es, 0x0e push cs), jumped over. */
__attribute__((noinline)) int skipper(int x)
{
	__asm__ volatile("jmp 1f\n\t.byte 0x06, 0x07, 0x0e\n1:");
	return x + 1;
}

int main(void)
{
	return skipper(1);
}
