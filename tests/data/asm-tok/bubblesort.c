/* The function of CLAP's case study CaseStudy/bubblesort.json: built with
 * gcc -Os -fno-tree-ch -fcf-protection -c, its objdump -d -M intel text
 * rendered by asm-tok gives that JSON's IDA text line for line
 * (tests/cli/asm-tok.sh). */
void bubblesort(int *arr)
{
	int n = 6;

	do {
		for (int i = 0; i < n; i++)
			if (arr[i] > arr[i + 1]) {
				int t = arr[i];

				arr[i] = arr[i + 1];
				arr[i + 1] = t;
			}
	} while (--n);
}
