/**
 * Frames captured with tcpdump (`tcpdump -i eth0 -xx 'arp or icmp6'`) on a two-namespace test
 * segment: host A (02:00:5e:00:00:21, 198.51.100.21, 2001:db8:100::21) and host B
 * (02:00:5e:00:00:22, 198.51.100.22, 2001:db8:100::22), Linux 6.18 kernel, iputils arping 20221126.
 *   B: arping -c 1 -I eth0 198.51.100.21      → ARP_REQUEST_B_FOR_A, and A's kernel: ARP_REPLY_KERNEL_A
 *   B: arping -U -c 1 -I eth0 198.51.100.22   → ARP_UNSOLICITED_B
 *   B: ping -6 -c 1 2001:db8:100::21          → NS_B_FOR_A (kernel), NA_KERNEL_A (kernel)
 *   A: router solicitation at link-up          → RS_A
 */
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

export const MAC_A = hex('02005e000021');
export const MAC_B = hex('02005e000022');

export const ARP_REQUEST_B_FOR_A = hex(`
  ffff ffff ffff 0200 5e00 0022 0806 0001
  0800 0604 0001 0200 5e00 0022 c633 6416
  ffff ffff ffff c633 6415`);

export const ARP_REPLY_KERNEL_A = hex(`
  0200 5e00 0022 0200 5e00 0021 0806 0001
  0800 0604 0002 0200 5e00 0021 c633 6415
  0200 5e00 0022 c633 6416`);

export const ARP_UNSOLICITED_B = hex(`
  ffff ffff ffff 0200 5e00 0022 0806 0001
  0800 0604 0001 0200 5e00 0022 c633 6416
  ffff ffff ffff c633 6416`);

export const NS_B_FOR_A = hex(`
  3333 ff00 0021 0200 5e00 0022 86dd 6000
  0000 0020 3aff 2001 0db8 0100 0000 0000
  0000 0000 0022 ff02 0000 0000 0000 0000
  0001 ff00 0021 8700 bba6 0000 0000 2001
  0db8 0100 0000 0000 0000 0000 0021 0101
  0200 5e00 0022`);

export const NA_KERNEL_A = hex(`
  0200 5e00 0022 0200 5e00 0021 86dd 6000
  0000 0020 3aff 2001 0db8 0100 0000 0000
  0000 0000 0021 2001 0db8 0100 0000 0000
  0000 0000 0022 8800 28f3 6000 0000 2001
  0db8 0100 0000 0000 0000 0000 0021 0201
  0200 5e00 0021`);

export const RS_A = hex(`
  3333 0000 0002 0200 5e00 0021 86dd 6000
  0000 0010 3aff fe80 0000 0000 0000 0000
  5eff fe00 0021 ff02 0000 0000 0000 0000
  0000 0000 0002 8500 beeb 0000 0000 0101
  0200 5e00 0021`);
