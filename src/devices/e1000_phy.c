/* The e1000's copper PHY, reached through MDIC: the Marvell 88E1011 that
 * the 82540EM integrates (PHY ID 0141h/0C20h, as Linux's e1000 expects for
 * this MAC). The link to the backend is always there: the PHY reports a
 * 1000 Mb/s full-duplex link with autonegotiation complete unless the
 * driver powers it down (PHY_CTRL bit 11, which Linux does on ifdown).
 * Resets and autonegotiation restarts complete at once. */
#include "devices/e1000_priv.h"

#include <errno.h>
#include <string.h>

#include "core/state.h"

/* Standard (IEEE 802.3 clause 22) and M88-specific register values. */
#define CTRL_DEFAULT   (MII_CR_AN_ENABLE | 0x0100 /* full duplex */ | 0x0040 /* 1000 */)
/* 100/10 full/half capable, extended status, preamble suppression,
 * autonegotiation able, extended capabilities. */
#define STATUS_BASE    0x7949
#define ID1_MARVELL    0x0141
#define ID2_88E1011    0x0C20
#define ANAR_DEFAULT   0x01E1 /* 100/10 full/half, 802.3 selector */
/* The link partner: 100/10 full/half, pause, acknowledge. */
#define ANLPAR_PARTNER 0x45E1
#define ANER_PARTNER_AN 0x0001
#define GCR_DEFAULT    0x0300 /* advertise 1000 full/half */
/* Local and remote receivers OK, partner 1000 full/half capable. */
#define GSR_PARTNER    0x3C00
#define ESR_1000T      0x3000 /* 1000BASE-T full/half capable */
#define M88_PSCR_DEFAULT  0x0068
#define M88_EPSCR_DEFAULT 0x0C60
/* M88 specific status with link: 1000 Mb/s, full duplex, resolved, up. */
#define M88_PSSR_UP    (0x8000 | 0x2000 | M88_SSR_RESOLVED | M88_SSR_LINK)

/* Registers a driver may write; the others are read-only. */
static bool writable(unsigned r)
{
	switch (r) {
	case PHY_CTRL:
	case PHY_AUTONEG_ADV:
	case PHY_1000T_CTRL:
	case M88_PHY_SPEC_CTRL:
	case M88_EXT_PHY_SPEC_CTRL:
	case M88_LED_CTRL:
	case M88_PHY_PAGE:
	case M88_PHY_GEN:
		return true;
	default:
		return false;
	}
}

void e1000_phy_reset(struct e1000_phy *phy)
{
	memset(phy, 0, sizeof(*phy));
	phy->reg[PHY_CTRL] = CTRL_DEFAULT;
	phy->reg[PHY_STATUS] = STATUS_BASE;
	phy->reg[PHY_ID1] = ID1_MARVELL;
	phy->reg[PHY_ID2] = ID2_88E1011;
	phy->reg[PHY_AUTONEG_ADV] = ANAR_DEFAULT;
	phy->reg[PHY_LP_ABILITY] = ANLPAR_PARTNER;
	phy->reg[PHY_AUTONEG_EXP] = ANER_PARTNER_AN;
	phy->reg[PHY_1000T_CTRL] = GCR_DEFAULT;
	phy->reg[PHY_1000T_STATUS] = GSR_PARTNER;
	phy->reg[PHY_EXT_STATUS] = ESR_1000T;
	phy->reg[M88_PHY_SPEC_CTRL] = M88_PSCR_DEFAULT;
	phy->reg[M88_EXT_PHY_SPEC_CTRL] = M88_EPSCR_DEFAULT;
}

bool e1000_phy_link_up(const struct e1000_phy *phy)
{
	return !(phy->reg[PHY_CTRL] & MII_CR_POWER_DOWN);
}

static uint16_t phy_read(const struct e1000_phy *phy, unsigned r)
{
	bool up = e1000_phy_link_up(phy);
	switch (r) {
	case PHY_STATUS:
		return (uint16_t)(phy->reg[r] | (up ? MII_SR_LINK | MII_SR_AN_COMPLETE : 0));
	case M88_PHY_SPEC_STATUS:
		return up ? M88_PSSR_UP : 0;
	default:
		return phy->reg[r];
	}
}

static void phy_write(struct e1000_phy *phy, unsigned r, uint16_t v)
{
	if (!writable(r))
		return;
	if (r == PHY_CTRL && (v & MII_CR_RESET)) {
		/* Software reset: back to defaults, keeping the power-down bit
		 * the write asks for; the bit clears itself. */
		e1000_phy_reset(phy);
		phy->reg[PHY_CTRL] = (uint16_t)((phy->reg[PHY_CTRL] & ~MII_CR_POWER_DOWN) |
						(v & MII_CR_POWER_DOWN));
		return;
	}
	if (r == PHY_CTRL) /* restart autonegotiation: done at once */
		v &= (uint16_t)~MII_CR_RESTART_AN;
	phy->reg[r] = v;
}

uint32_t e1000_mdic_write(struct e1000_phy *phy, uint32_t v)
{
	unsigned op = (v >> MDIC_OP_SHIFT) & 3;
	unsigned addr = (v >> MDIC_PHY_SHIFT) & 0x1F;
	unsigned r = (v >> MDIC_REG_SHIFT) & 0x1F;

	v &= ~(MDIC_READY | MDIC_ERROR);
	/* Only the internal PHY answers; a read of another address or a bad
	 * opcode ends with the error bit (SDM §13.4, MDIC.E). */
	if (addr != E1000_PHY_ADDR || (op != MDIC_OP_READ && op != MDIC_OP_WRITE))
		return v | MDIC_READY | MDIC_ERROR;
	if (op == MDIC_OP_READ)
		return (v & ~MDIC_DATA_MASK) | phy_read(phy, r) | MDIC_READY;
	phy_write(phy, r, (uint16_t)(v & MDIC_DATA_MASK));
	return v | MDIC_READY;
}

void e1000_phy_save(const struct e1000_phy *phy, struct state_writer *w)
{
	uint8_t le[PHY_NREGS * 2];
	for (unsigned i = 0; i < PHY_NREGS; i++) {
		le[2 * i] = (uint8_t)phy->reg[i];
		le[2 * i + 1] = (uint8_t)(phy->reg[i] >> 8);
	}
	state_begin(w, "phy", 1);
	state_put_bytes(w, "reg", le, sizeof(le));
	state_end(w);
}

int e1000_phy_load(struct e1000_phy *staged, struct state_reader *r)
{
	uint8_t le[PHY_NREGS * 2];
	struct e1000_phy defaults;

	state_enter(r, "phy", 1, NULL);
	if (state_get_bytes(r, "reg", le, sizeof(le)) < 0)
		return -EINVAL;
	e1000_phy_reset(&defaults);
	for (unsigned i = 0; i < PHY_NREGS; i++) {
		uint16_t v = (uint16_t)(le[2 * i] | le[2 * i + 1] << 8);
		/* What phy_write can leave: read-only registers at their
		 * defaults, reset and restart done at once. */
		if (!writable(i) && v != defaults.reg[i])
			return state_invalid(r, "reg", "register %u is read-only: 0x%04x, not 0x%04x",
					     i, v, defaults.reg[i]);
		if (i == PHY_CTRL && (v & (MII_CR_RESET | MII_CR_RESTART_AN)))
			return state_invalid(r, "reg", "register 0 (control) 0x%04x has a reset or"
					     " an autonegotiation restart pending", v);
		staged->reg[i] = v;
	}
	return state_leave(r);
}
