/* The register layout of the ACPI fixed-hardware power-management block
 * (ACPI 6.x 4.8.3): the FADT describes it (acpi.c) and devices/acpi_pm.c
 * emulates it, so both take it from here. */
#ifndef IOVIRT_ARCH_X86_ACPI_PM_REGS_H
#define IOVIRT_ARCH_X86_ACPI_PM_REGS_H

#define ACPI_PM_BASE 0x600
#define ACPI_PM_LEN 12

/* Register offsets inside the block; the FADT builder uses them too. */
#define ACPI_PM1_STS 0
#define ACPI_PM1_EN 2
#define ACPI_PM1_CNT 4
#define ACPI_PM_RESET 8
#define ACPI_PM1_EVT_LEN 4
#define ACPI_PM1_CNT_LEN 2
#define ACPI_PM_RESET_VALUE 1

/* SLP_TYP for S5 (soft off): the \_S5 package in the DSDT says this. */
#define ACPI_S5_SLP_TYP 5

/* PM1 control bits, table 4.x "PM1 Control Registers Fixed Hardware". */
#define ACPI_PM1_CNT_SCI_EN (1u << 0)
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10
#define ACPI_PM1_CNT_SLP_TYP_MASK (7u << 10)
#define ACPI_PM1_CNT_SLP_EN (1u << 13)

/* PM1 status bits, table 4.x "PM1 Status Registers Fixed Hardware". */
#define ACPI_PM1_STS_PWRBTN (1u << 8)
#define ACPI_PM1_STS_WAK (1u << 15)
/* PM1 enable bits, table 4.x "PM1 Enable Registers Fixed Hardware". */
#define ACPI_PM1_EN_PWRBTN (1u << 8)

#endif
