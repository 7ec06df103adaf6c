"""Arrange an EC2 fleet in moto for the IMDSv2 modules: instances, launch templates, Auto Scaling groups, metrics.

moto generates no EC2 metrics, so the IMDSv1 evidence is seeded with
put_metric_data into AWS/EC2 with an InstanceId dimension, as AWS publishes it.
Every helper tags what it creates with the calling test's own marker, so
tests sharing the session's moto_server never see each other's instances.
"""
import datetime
import uuid

_IMAGES = {}


def now():
    return datetime.datetime.now(datetime.timezone.utc)


class Fleet:
    def __init__(self, aws):
        self.aws = aws
        self.ec2 = aws('ec2')
        self.marker = uuid.uuid4().hex[:12]
        # Listing moto's images takes seconds: once per moto_server is enough.
        endpoint = self.ec2.meta.endpoint_url
        if endpoint not in _IMAGES:
            _IMAGES[endpoint] = self.ec2.describe_images(Owners=['amazon'], MaxResults=5)['Images'][0]['ImageId']
        self.image = _IMAGES[endpoint]

    @property
    def tags(self):
        """The tags option that scopes a module to this test's instances."""
        return {'fleet': self.marker}

    def _tag_spec(self, extra=None):
        tags = dict(self.tags, **(extra or {}))
        return [{'ResourceType': 'instance', 'Tags': [{'Key': k, 'Value': v} for k, v in tags.items()]}]

    def launch(self, count=1, metadata_options=None, tags=None, **kwargs):
        """Instance IDs of COUNT new instances (metadata options in API form)."""
        if metadata_options:
            kwargs['MetadataOptions'] = metadata_options
        if 'LaunchTemplate' not in kwargs:
            kwargs.setdefault('ImageId', self.image)
        reservation = self.ec2.run_instances(MinCount=count, MaxCount=count, TagSpecifications=self._tag_spec(tags),
                                             **kwargs)
        return [instance['InstanceId'] for instance in reservation['Instances']]

    def options(self, instance_id):
        instance = self.ec2.describe_instances(InstanceIds=[instance_id])['Reservations'][0]['Instances'][0]
        return instance['MetadataOptions']

    def launch_template(self, metadata_options=None):
        data = {'ImageId': self.image, 'InstanceType': 't3.micro'}
        if metadata_options:
            data['MetadataOptions'] = metadata_options
        template = self.ec2.create_launch_template(LaunchTemplateName='lt-%s-%s' % (self.marker, uuid.uuid4().hex[:6]),
                                                   LaunchTemplateData=data)['LaunchTemplate']
        return template['LaunchTemplateId']

    def auto_scaling_group(self, size=1, **launch):
        """(group name, instance IDs) of a new group launched from a template or configuration (LaunchTemplate=...)."""
        autoscaling = self.aws('autoscaling')
        name = 'asg-%s-%s' % (self.marker, uuid.uuid4().hex[:6])
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name, MinSize=size, MaxSize=size, AvailabilityZones=['eu-west-1a'],
            Tags=[{'Key': 'fleet', 'Value': self.marker, 'PropagateAtLaunch': True}], **launch)
        group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])['AutoScalingGroups'][0]
        return name, [item['InstanceId'] for item in group['Instances']]

    def launch_configuration(self, metadata_options=None):
        name = 'lc-%s-%s' % (self.marker, uuid.uuid4().hex[:6])
        kwargs = {'MetadataOptions': metadata_options} if metadata_options else {}
        self.aws('autoscaling').create_launch_configuration(LaunchConfigurationName=name, ImageId=self.image,
                                                            InstanceType='t3.micro', **kwargs)
        return name

    def seed(self, instance_id, metric, values, ago=datetime.timedelta(days=1)):
        """Datapoints of METRIC for INSTANCE_ID, one per value, spaced an hour apart ending AGO before now."""
        end = now() - ago
        self.aws('cloudwatch').put_metric_data(Namespace='AWS/EC2', MetricData=[
            {'MetricName': metric, 'Dimensions': [{'Name': 'InstanceId', 'Value': instance_id}], 'Value': value,
             'Unit': 'Count', 'Timestamp': end - datetime.timedelta(hours=index)}
            for index, value in enumerate(values)
        ])
