"""Seeds the AWS emulator with the Zelly estate in both regions: network, ECS clusters, task
definitions that read their secrets from Secrets Manager, services, the secrets, and three hours
of CloudWatch metrics. Names match the control plane's built-in configuration.

Staging's storefront asks for 2 tasks while the emulator runs 1 of each, so one service shows as
degraded; everything else is healthy.
"""
import datetime
import json
import math

import boto3

ENVIRONMENTS = {
    "production": {"region": "ap-south-1", "cluster": "zelly-production", "cidr": "10.0.0.0/16", "load": 1.0},
    "staging": {"region": "ap-southeast-1", "cluster": "zelly-staging", "cidr": "10.1.0.0/16", "load": 0.35},
}
# service: (vCPU units, memory MB, secrets it reads)
SERVICES = {
    "fastify-nova": (1024, 2048, ["zelly/fastify-nova/env", "zelly/aurora/master", "zelly/redis/auth"]),
    "customer-panel": (512, 1024, ["zelly/customer-panel/env", "zelly/aurora/master"]),
    "orion-backend": (512, 1024, ["zelly/orion-backend/env", "zelly/aurora/master"]),
    "events-consumer": (256, 512, ["zelly/redis/auth"]),
    "storefront": (1024, 2048, []),
    "internal_tools": (256, 512, ["zelly/redis/auth"]),
}
SECRETS = {
    "zelly/aurora/master": ["DB_HOST", "DB_USER", "DB_PASSWORD"],
    "zelly/redis/auth": ["REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD"],
    "zelly/fastify-nova/env": ["JWT_SECRET", "RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET", "SLACK_WEBHOOK_URL",
                               "FIREBASE_CONFIG", "CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD"],
    "zelly/customer-panel/env": ["JWT_SECRET", "COOKIE_SECRET", "SSO_CLIENT_ID", "SSO_CLIENT_SECRET"],
    "zelly/orion-backend/env": ["JWT_SECRET_KEY", "CORS_ORIGINS"],
}
ALBS = ["alb-nova", "alb-customer", "alb-orion"]
# Terraform's S3 backend of the estate: one versioned bucket and one lock table, in Mumbai.
STATE_BUCKET, LOCK_TABLE, BACKEND_REGION = "zelly-terraform-state", "zelly-terraform-locks", "ap-south-1"


def cloudwatch_ids(env):
    """The CloudWatch dimension values of the estate (as in the built-in configuration)."""
    return {
        "lb": {name: f"app/zelly-{env}-{name}/1" for name in ALBS},
        "nlb": f"net/zelly-{env}-nlb-storefront/1",
        "redis": f"zelly-{env}-redis",
        "aurora": f"zelly-{env}-aurora",
    }


def client(kind, endpoint, region):
    return boto3.client(kind, endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="emulator", aws_secret_access_key="emulator")


def secret_value(env, name, key):
    # Recognisable, per environment, never real: tests check these never leak.
    return f"seeded-{env}-{name.replace('/', '-')}-{key.lower()}"


def seed_environment(endpoint, env, spec):
    region, cluster = spec["region"], spec["cluster"]
    ec2 = client("ec2", endpoint, region)
    vpc = ec2.create_vpc(CidrBlock=spec["cidr"])["Vpc"]["VpcId"]
    base = spec["cidr"].split(".")[:2]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"{base[0]}.{base[1]}.{10 + i}.0/24",
                                 AvailabilityZone=f"{region}{zone}")["Subnet"]["SubnetId"]
               for i, zone in enumerate("abc")]
    sg = ec2.create_security_group(GroupName=f"zelly-{env}-services", Description="ECS services", VpcId=vpc)["GroupId"]

    sm = client("secretsmanager", endpoint, region)
    arns = {}
    for name, keys in SECRETS.items():
        value = {k: secret_value(env, name, k) for k in keys}
        arns[name] = sm.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]

    ecs = client("ecs", endpoint, region)
    ecs.create_cluster(clusterName=cluster)
    for service, (cpu, memory, secrets) in SERVICES.items():
        container_secrets = [{"name": key, "valueFrom": f"{arns[name]}:{key}::"}
                             for name in secrets for key in SECRETS[name][:2]]
        td = ecs.register_task_definition(
            family=service, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu=str(cpu),
            memory=str(memory),
            containerDefinitions=[{"name": service, "image": f"zelly/{service}:latest", "essential": True,
                                   "secrets": container_secrets,
                                   "logConfiguration": {"logDriver": "awslogs",
                                                        "options": {"awslogs-group": f"/zelly/ecs/{service}"}}}],
        )["taskDefinition"]["taskDefinitionArn"]
        desired = 2 if (env, service) == ("staging", "storefront") else 1
        ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=td, desiredCount=desired,
                           launchType="FARGATE",
                           networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg]}})

    seed_metrics(endpoint, env, spec)


def seed_metrics(endpoint, env, spec):
    cw = client("cloudwatch", endpoint, spec["region"])
    ids, load, cluster = cloudwatch_ids(env), spec["load"], spec["cluster"]
    now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
    points = [now - datetime.timedelta(minutes=5 * i) for i in range(36, -1, -1)]

    def wave(i, base, swing, phase=0.0):
        return max(0.0, base + swing * math.sin(i / 6.0 + phase))

    series = []  # (namespace, metric, dimensions, values)
    for n, service in enumerate(SERVICES):
        dims = [{"Name": "ClusterName", "Value": cluster}, {"Name": "ServiceName", "Value": service}]
        series.append(("AWS/ECS", "CPUUtilization", dims, [wave(i, 35 * load + 5 * n, 12 * load, n) for i in range(len(points))]))
        series.append(("AWS/ECS", "MemoryUtilization", dims, [wave(i, 45 + 4 * n, 5, n) for i in range(len(points))]))
    for n, lb in enumerate(ALBS):
        dims = [{"Name": "LoadBalancer", "Value": ids["lb"][lb]}]
        series.append(("AWS/ApplicationELB", "RequestCount", dims, [wave(i, 9000 * load / (n + 1), 3000 * load, n) for i in range(len(points))]))
        series.append(("AWS/ApplicationELB", "TargetResponseTime", dims, [wave(i, 0.12 + 0.05 * n, 0.04, n) for i in range(len(points))]))
        series.append(("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", dims, [round(wave(i, 4 * load, 4 * load, n)) for i in range(len(points))]))
    series.append(("AWS/NetworkELB", "ActiveFlowCount", [{"Name": "LoadBalancer", "Value": ids["nlb"]}],
                   [wave(i, 800 * load, 300 * load) for i in range(len(points))]))
    redis = [{"Name": "CacheClusterId", "Value": ids["redis"]}]
    series.append(("AWS/ElastiCache", "CacheHits", redis, [wave(i, 50000 * load, 15000 * load) for i in range(len(points))]))
    series.append(("AWS/ElastiCache", "CacheMisses", redis, [wave(i, 2500 * load, 800 * load, 1) for i in range(len(points))]))
    series.append(("AWS/ElastiCache", "CPUUtilization", redis, [wave(i, 18 * load + 3, 6 * load) for i in range(len(points))]))
    series.append(("AWS/RDS", "ServerlessDatabaseCapacity", [{"Name": "DBClusterIdentifier", "Value": ids["aurora"]}],
                   [wave(i, 3.0 * load + 0.5, 1.5 * load) for i in range(len(points))]))

    for namespace, metric, dims, values in series:
        data = [{"MetricName": metric, "Dimensions": dims, "Timestamp": t, "Value": float(v)} for t, v in zip(points, values)]
        for start in range(0, len(data), 20):
            cw.put_metric_data(Namespace=namespace, MetricData=data[start:start + 20])


def seed_state_backend(endpoint):
    s3 = client("s3", endpoint, BACKEND_REGION)
    s3.create_bucket(Bucket=STATE_BUCKET, CreateBucketConfiguration={"LocationConstraint": BACKEND_REGION})
    s3.put_bucket_versioning(Bucket=STATE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    client("dynamodb", endpoint, BACKEND_REGION).create_table(
        TableName=LOCK_TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}])


def seed(endpoint):
    for env, spec in ENVIRONMENTS.items():
        seed_environment(endpoint, env, spec)
