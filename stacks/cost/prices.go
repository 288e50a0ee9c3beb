package cost

// Prices are the us-east-1 (N. Virginia) list prices the report uses, in US dollars, taken on
// 2026-11-30 from AWS's public price pages as last published (aws.amazon.com/fargate/pricing,
// /vpc/pricing, /ec2/pricing/on-demand, /ebs/pricing, /privatelink/pricing,
// /secrets-manager/pricing, /kms/pricing, /cloudwatch/pricing, /rds/postgresql/pricing,
// /rds/aurora/pricing, /elasticache/pricing, /elasticloadbalancing/pricing). They were not re-read
// online when written: check them there before relying on a cent. Fargate Spot has no list
// price (it follows spare capacity); the report assumes SpotFraction of the on-demand price,
// AWS's "up to 70% off".
var Prices = struct {
	// HoursPerMonth is AWS's billing month: 365 × 24 / 12.
	HoursPerMonth float64
	// Fargate is per vCPU-hour and per GB-hour, Linux, by CPU architecture (the
	// RuntimePlatform's CpuArchitecture: X86_64, ARM64).
	Fargate map[string]struct{ VCPUHour, GBHour float64 }
	// SpotFraction is the share of the on-demand Fargate price assumed for Fargate Spot.
	SpotFraction float64
	// NatGatewayHour and NatGatewayGB are the managed NAT gateway's hourly and data
	// processing charges.
	NatGatewayHour, NatGatewayGB float64
	// PublicIPv4Hour is charged for every public IPv4 address, in use or not (NAT gateway
	// EIPs, NAT instances and tasks with a public IP).
	PublicIPv4Hour float64
	// EC2Hour is the Linux on-demand price of the instance types a NAT instance may use.
	EC2Hour map[string]float64
	// GP3GBMonth is gp3 storage; NatRootGB the root volume of the Amazon Linux 2023 AMI.
	GP3GBMonth float64
	NatRootGB  float64
	// EndpointAZHour and EndpointGB are an interface VPC endpoint's charges per AZ (subnet).
	EndpointAZHour, EndpointGB float64
	// SecretMonth and KMSKeyMonth are a Secrets Manager secret and a customer-managed key.
	SecretMonth, KMSKeyMonth float64
	// LogsIngestGB and LogsStoreGBMonth are CloudWatch Logs (standard class).
	LogsIngestGB, LogsStoreGBMonth float64
	// MetricMonth is a CloudWatch custom metric (Container Insights' metrics are billed so).
	MetricMonth float64
	// InternetOutGB is data transfer out to the internet (after the free 100 GB a month).
	InternetOutGB float64
	// RDSHour is RDS for PostgreSQL on demand, single-AZ, by instance class; a Multi-AZ
	// instance (a standby in a second AZ) costs twice as much, and so does its storage.
	RDSHour map[string]float64
	// RDSGP3GBMonth is RDS gp3 storage, single-AZ; RDSBackupGBMonth is backup storage beyond
	// the database's size (up to its size is free).
	RDSGP3GBMonth, RDSBackupGBMonth float64
	// AuroraACUHour and AuroraGBMonth are Aurora Serverless v2 (PostgreSQL, standard), for
	// the comparison in docs/server.md: at its 0.5 ACU minimum it idles at 0.5 × AuroraACUHour.
	AuroraACUHour, AuroraGBMonth float64
	// CacheNodeHour is ElastiCache on demand per node, by engine and node type.
	CacheNodeHour map[string]map[string]float64
	// ALBHour and ALBLCUHour are an Application Load Balancer's hourly and per-LCU charges;
	// an internet-facing one also pays PublicIPv4Hour for each AZ's address.
	ALBHour, ALBLCUHour float64
}{
	HoursPerMonth: 730,
	Fargate: map[string]struct{ VCPUHour, GBHour float64 }{
		"X86_64": {0.04048, 0.004445},
		"ARM64":  {0.03238, 0.00356},
	},
	SpotFraction:   0.30,
	NatGatewayHour: 0.045, NatGatewayGB: 0.045,
	PublicIPv4Hour: 0.005,
	EC2Hour: map[string]float64{
		"t4g.nano": 0.0042, "t4g.micro": 0.0084, "t4g.small": 0.0168, "t4g.medium": 0.0336, "t4g.large": 0.0672,
		"c6g.medium": 0.034, "c7g.medium": 0.0363, "c7gn.medium": 0.0624, "m6g.medium": 0.0385, "m7g.medium": 0.0408,
	},
	GP3GBMonth: 0.08, NatRootGB: 8,
	EndpointAZHour: 0.01, EndpointGB: 0.01,
	SecretMonth: 0.40, KMSKeyMonth: 1.00,
	LogsIngestGB: 0.50, LogsStoreGBMonth: 0.03,
	MetricMonth:   0.30,
	InternetOutGB: 0.09,
	RDSHour: map[string]float64{
		"db.t4g.micro": 0.016, "db.t4g.small": 0.032, "db.t4g.medium": 0.065, "db.t4g.large": 0.129,
	},
	RDSGP3GBMonth: 0.115, RDSBackupGBMonth: 0.095,
	AuroraACUHour: 0.12, AuroraGBMonth: 0.10,
	CacheNodeHour: map[string]map[string]float64{
		"valkey": {"cache.t4g.micro": 0.0128, "cache.t4g.small": 0.0256, "cache.t4g.medium": 0.052},
		"redis":  {"cache.t4g.micro": 0.016, "cache.t4g.small": 0.032, "cache.t4g.medium": 0.065},
	},
	ALBHour: 0.0225, ALBLCUHour: 0.008,
}
