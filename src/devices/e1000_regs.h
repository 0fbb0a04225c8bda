/* Intel 82540EM register map, descriptor layouts and bits, as the "PCI/PCI-X
 * Family of Gigabit Ethernet Controllers Software Developer's Manual"
 * (8254x SDM, 317453) numbers them: registers in §13 (Table 13-2), receive
 * and transmit descriptors in §3.2 and §3.3, TCP segmentation in §3.5, the
 * EEPROM in §5, the PHY (Marvell 88E1011-compatible) with the registers. */
#ifndef IOVIRT_DEVICES_E1000_REGS_H
#define IOVIRT_DEVICES_E1000_REGS_H

/* ---- PCI identity (SDM §4.1; subsystem IDs as QEMU's e1000) ---- */
#define E1000_VENDOR_INTEL   0x8086
#define E1000_DEV_82540EM    0x100E
#define E1000_SUBSYS_VENDOR  0x8086
#define E1000_SUBSYS_ID      0x001E
#define E1000_CLASS_ETHERNET 0x020000
#define E1000_REVISION       0x03
#define E1000_MMIO_SIZE      0x20000 /* BAR0: 128 KiB of registers */
#define E1000_IO_SIZE        8       /* BAR1: IOADDR, IODATA (SDM §13.2) */
#define E1000_IOADDR_MASK    0x0001FFFFu /* IOADDR: a register offset */

/* ---- Register offsets (SDM Table 13-2) ---- */
#define E1000_CTRL     0x00000
#define E1000_STATUS   0x00008
#define E1000_EECD     0x00010
#define E1000_EERD     0x00014
#define E1000_CTRL_EXT 0x00018
#define E1000_FLA      0x0001C
#define E1000_MDIC     0x00020
#define E1000_FCAL     0x00028
#define E1000_FCAH     0x0002C
#define E1000_FCT      0x00030
#define E1000_VET      0x00038
#define E1000_ICR      0x000C0
#define E1000_ITR      0x000C4
#define E1000_ICS      0x000C8
#define E1000_IMS      0x000D0
#define E1000_IMC      0x000D8
#define E1000_RCTL     0x00100
#define E1000_FCTTV    0x00170
#define E1000_TXCW     0x00178
#define E1000_RXCW     0x00180
#define E1000_TCTL     0x00400
#define E1000_TIPG     0x00410
#define E1000_AIT      0x00458
#define E1000_LEDCTL   0x00E00
#define E1000_PBA      0x01000
#define E1000_FCRTL    0x02160
#define E1000_FCRTH    0x02168
#define E1000_RDBAL    0x02800
#define E1000_RDBAH    0x02804
#define E1000_RDLEN    0x02808
#define E1000_RDH      0x02810
#define E1000_RDT      0x02818
#define E1000_RDTR     0x02820
#define E1000_RXDCTL   0x02828
#define E1000_RADV     0x0282C
#define E1000_RSRPD    0x02C00
#define E1000_TXDMAC   0x03000
#define E1000_TDBAL    0x03800
#define E1000_TDBAH    0x03804
#define E1000_TDLEN    0x03808
#define E1000_TDH      0x03810
#define E1000_TDT      0x03818
#define E1000_TIDV     0x03820
#define E1000_TXDCTL   0x03828
#define E1000_TADV     0x0382C
#define E1000_TSPMT    0x03830
#define E1000_STATS    0x04000 /* 64 statistics registers, clear on read */
#define E1000_STATS_END 0x04100
#define E1000_RXCSUM   0x05000
#define E1000_MTA      0x05200 /* 128 words: multicast hash table */
#define E1000_MTA_END  0x05400
#define E1000_RA       0x05400 /* 16 x (RAL, RAH): receive addresses */
#define E1000_RA_END   0x05480
#define E1000_VFTA     0x05600 /* 128 words: VLAN filter table */
#define E1000_VFTA_END 0x05800
/* Wake-up and manageability (SDM §13.6, §13.7): not implemented, read 0. */
#define E1000_WUC      0x05800
#define E1000_MANC     0x05820
#define E1000_WAKEUP_END 0x06000
#define E1000_FFMT     0x09000 /* flexible filter tables, read 0 too */
#define E1000_FFT_END  0x09C00

#define E1000_MTA_WORDS  128
#define E1000_RA_ENTRIES 16
#define E1000_VFTA_WORDS 128
#define E1000_NSTATS     64

/* Statistics (SDM §13.8), as indexes into the 64 words from 0x4000. */
#define E1000_ST(off)  (((off) - E1000_STATS) / 4)
#define ST_CRCERRS  E1000_ST(0x4000)
#define ST_MPC      E1000_ST(0x4010)
#define ST_RLEC     E1000_ST(0x4040)
#define ST_PRC64    E1000_ST(0x405C) /* ..PRC1522 at +4 each: 6 buckets */
#define ST_GPRC     E1000_ST(0x4074)
#define ST_BPRC     E1000_ST(0x4078)
#define ST_MPRC     E1000_ST(0x407C)
#define ST_GPTC     E1000_ST(0x4080)
#define ST_GORCL    E1000_ST(0x4088) /* 64-bit pairs: low, then high */
#define ST_GORCH    E1000_ST(0x408C)
#define ST_GOTCL    E1000_ST(0x4090)
#define ST_GOTCH    E1000_ST(0x4094)
#define ST_RNBC     E1000_ST(0x40A0)
#define ST_RUC      E1000_ST(0x40A4)
#define ST_ROC      E1000_ST(0x40AC)
#define ST_TORL     E1000_ST(0x40C0)
#define ST_TORH     E1000_ST(0x40C4)
#define ST_TOTL     E1000_ST(0x40C8)
#define ST_TOTH     E1000_ST(0x40CC)
#define ST_TPR      E1000_ST(0x40D0)
#define ST_TPT      E1000_ST(0x40D4)
#define ST_PTC64    E1000_ST(0x40D8) /* ..PTC1522: 6 buckets */
#define ST_MPTC     E1000_ST(0x40F0)
#define ST_BPTC     E1000_ST(0x40F4)
#define ST_TSCTC    E1000_ST(0x40F8)
#define ST_TSCTFC   E1000_ST(0x40FC)

/* ---- CTRL (SDM §13.4.1) ---- */
#define CTRL_FD       (1u << 0)
#define CTRL_ASDE     (1u << 5)
#define CTRL_SLU      (1u << 6)
#define CTRL_SPD_1000 (2u << 8)
#define CTRL_RST      (1u << 26)
#define CTRL_VME      (1u << 30)
#define CTRL_PHY_RST  (1u << 31)

/* ---- STATUS (§13.4.2) ---- */
#define STATUS_FD          (1u << 0)
#define STATUS_LU          (1u << 1)
#define STATUS_SPEED_1000  (2u << 6)
#define STATUS_ASDV_1000   (2u << 8)

/* ---- EECD (§13.4.3) and EERD (§13.4.4) ---- */
#define EECD_SK   (1u << 0)
#define EECD_CS   (1u << 1)
#define EECD_DI   (1u << 2)
#define EECD_DO   (1u << 3)
#define EECD_FWE  (3u << 4)
#define EECD_REQ  (1u << 6)
#define EECD_GNT  (1u << 7)
#define EECD_PRES (1u << 8)
#define EECD_SIZE (1u << 9) /* 0: 64 words (6 address bits) */
#define EERD_START (1u << 0)
#define EERD_DONE  (1u << 4)
#define EERD_ADDR_SHIFT 8
#define EERD_DATA_SHIFT 16

#define CTRL_EXT_EE_RST (1u << 13) /* self-clearing: reload from the EEPROM */

/* ---- MDIC (§13.4, MDI Control) ---- */
#define MDIC_DATA_MASK  0xFFFFu
#define MDIC_REG_SHIFT  16
#define MDIC_PHY_SHIFT  21
#define MDIC_OP_SHIFT   26
#define MDIC_OP_WRITE   1u
#define MDIC_OP_READ    2u
#define MDIC_READY      (1u << 28)
#define MDIC_INT_EN     (1u << 29)
#define MDIC_ERROR      (1u << 30)
#define E1000_PHY_ADDR  1 /* the internal PHY's MDIO address */

/* ---- Interrupt causes: ICR/ICS/IMS/IMC (§13.4.17-21) ---- */
#define ICR_TXDW   (1u << 0)
#define ICR_TXQE   (1u << 1)
#define ICR_LSC    (1u << 2)
#define ICR_RXSEQ  (1u << 3)
#define ICR_RXDMT0 (1u << 4)
#define ICR_RXO    (1u << 6)
#define ICR_RXT0   (1u << 7)
#define ICR_MDAC   (1u << 9)
#define ICR_RXCFG  (1u << 10)
#define ICR_PHYINT (1u << 12)
#define ICR_GPI    (3u << 13)
#define ICR_TXD_LOW (1u << 15)
#define ICR_SRPD   (1u << 16)
#define ICR_VALID  0x0001F6DFu

#define ITR_INTERVAL_MASK 0xFFFFu
#define ITR_UNIT_NS 256 /* §13.4.18: the interval counts 256 ns units */

/* The interrupt delay timers RDTR, RADV, TIDV and TADV (§13.4): 16-bit
 * counts of 1.024 us; writing RDTR with FPD set fires the receive timer
 * at once (the bit reads 0). */
#define DELAY_MASK    0xFFFFu
#define DELAY_UNIT_NS 1024
#define RDTR_FPD      (1u << 31)

/* ---- RCTL (§13.4.22) ---- */
#define RCTL_EN      (1u << 1)
#define RCTL_SBP     (1u << 2)
#define RCTL_UPE     (1u << 3)
#define RCTL_MPE     (1u << 4)
#define RCTL_LPE     (1u << 5)
#define RCTL_RDMTS_SHIFT 8
#define RCTL_RDMTS_MASK  (3u << 8)
#define RCTL_MO_SHIFT    12
#define RCTL_MO_MASK     (3u << 12)
#define RCTL_BAM     (1u << 15)
#define RCTL_BSIZE_SHIFT 16
#define RCTL_BSIZE_MASK  (3u << 16)
#define RCTL_VFE     (1u << 18)
#define RCTL_BSEX    (1u << 25)
#define RCTL_SECRC   (1u << 26)

/* ---- TCTL (§13.4, Table 13-76) ---- */
#define TCTL_EN  (1u << 1)
#define TCTL_PSP (1u << 3)

/* ---- RXCSUM (§13.4; receive checksum offload is described in §3.2) ---- */
#define RXCSUM_IPOFL (1u << 8)
#define RXCSUM_TUOFL (1u << 9)

#define RAH_AV       (1u << 31) /* address valid */
#define RAH_AS_MASK  (3u << 16) /* address select: 00 = destination */

/* ---- Receive descriptor, legacy (§3.2.3) ---- */
#define RXD_SIZE      16
#define RXD_STAT_DD    (1u << 0)
#define RXD_STAT_EOP   (1u << 1)
#define RXD_STAT_IXSM  (1u << 2) /* ignore checksum indication */
#define RXD_STAT_VP    (1u << 3)
#define RXD_STAT_TCPCS (1u << 5)
#define RXD_STAT_IPCS  (1u << 6)
#define RXD_ERR_TCPE   (1u << 5)
#define RXD_ERR_IPE    (1u << 6)

/* ---- Transmit descriptors (§3.3) ---- */
#define TXD_SIZE 16
/* The command byte (bits 31:24 of the second quadword's low dword), the
 * same bit positions in legacy CMD, data DCMD and context TUCMD. */
#define TXD_CMD_EOP  (1u << 0)
#define TXD_CMD_IFCS (1u << 1)
#define TXD_CMD_IC   (1u << 2) /* legacy: insert checksum */
#define TXD_CMD_TSE  (1u << 2) /* data and context: TCP segmentation */
#define TXD_CMD_RS   (1u << 3)
#define TXD_CMD_RPS  (1u << 4)
#define TXD_CMD_DEXT (1u << 5)
#define TXD_CMD_VLE  (1u << 6)
#define TXD_CMD_IDE  (1u << 7)
#define TUCMD_TCP    (1u << 0) /* context: TCP (else UDP) */
#define TUCMD_IP     (1u << 1) /* context: IPv4 (else IPv6) */
#define TXD_DTYP_CTX  0x0
#define TXD_DTYP_DATA 0x1
#define TXD_STAT_DD  (1u << 0)
#define TXD_POPTS_IXSM (1u << 0)
#define TXD_POPTS_TXSM (1u << 1)
#define TXD_STATUS_OFF 12 /* the status byte within a descriptor */

/* Largest packet gathered from transmit descriptors: a 64 KiB TCP
 * segmentation payload plus its headers (HDRLEN is 8 bits). */
#define E1000_TX_MAX (65536 + 256)
/* Largest frame received: 16 KiB with RCTL.LPE (§13.4.22), counting CRC. */
#define E1000_RX_MAX 16384
#define E1000_RX_MAX_NOLPE 1522
#define E1000_MIN_FRAME 60 /* without CRC: shorter frames are padded */
#define E1000_FCS_LEN 4

/* ---- PHY registers (IEEE 802.3 clause 22; the M88E1011 the SDM's PHY
 * register section describes) ---- */
#define PHY_CTRL        0x00
#define PHY_STATUS      0x01
#define PHY_ID1         0x02
#define PHY_ID2         0x03
#define PHY_AUTONEG_ADV 0x04
#define PHY_LP_ABILITY  0x05
#define PHY_AUTONEG_EXP 0x06
#define PHY_1000T_CTRL  0x09
#define PHY_1000T_STATUS 0x0A
#define PHY_EXT_STATUS  0x0F
#define M88_PHY_SPEC_CTRL   0x10
#define M88_PHY_SPEC_STATUS 0x11
#define M88_EXT_PHY_SPEC_CTRL 0x14
#define M88_RX_ERR_CNTR 0x15
#define M88_LED_CTRL    0x18
#define M88_PHY_PAGE    0x1D
#define M88_PHY_GEN     0x1E
#define PHY_NREGS       32

#define MII_CR_RESTART_AN (1u << 9)
#define MII_CR_POWER_DOWN (1u << 11)
#define MII_CR_AN_ENABLE  (1u << 12)
#define MII_CR_RESET      (1u << 15)
#define MII_SR_LINK       (1u << 2)
#define MII_SR_AN_COMPLETE (1u << 5)
#define M88_SSR_LINK      (1u << 10)
#define M88_SSR_RESOLVED  (1u << 11)

#define EEPROM_WORDS 64
#define EEPROM_SUM   0xBABA /* §5: words 00h-3Fh sum to this (word 3Fh is the checksum) */

#endif
